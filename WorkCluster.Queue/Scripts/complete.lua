#!lua flags=allow-oom
-- complete: attempts that succeeded, each under its lease `token`: store the result, mark the job worked, end its
-- lease, free its payload, start its TTL. Fenced: an attempt that no longer holds the job's lease changes nothing. A
-- job whose cancellation was requested ends cancelled instead (its result is not kept). One call takes a batch of
-- outcomes (group commit: a worker sends the outcomes that arrived while its previous call was on the way), each
-- handled in turn exactly as if it came alone.
--! keys: jobs payloads results leases expiry stats cancelled cancels webhooks events failed idempotency
-- K.jobs   K.payloads   K.results   K.leases   K.expiry (zset)   K.stats
-- K.cancelled (zset)   K.cancels (zset)   K.webhooks (zset id -> due ms)   K.events (channel)
-- K.failed (zset)   K.idempotency (hash): for the jobs that go early when results pass their budget
-- ARGV[1] result TTL (ms)   ARGV[2] n, the outcomes that follow, 3 arguments each: id, lease token, result (JSON text)
-- ARGV[3 + 3n] the most bytes of results kept in all (past it, those that expire first go early; see bound_results)
-- Returns, for each outcome in turn (the names of QueueOutcome, see WorkCluster.Queue/QueueOutcome.cs), 'worked' if the result was stored, 'cancelled' if the
-- job ended cancelled, 'stale' if the attempt is stale (its lease lapsed and the job was taken back or finished by another attempt, or was cancelled, or the job no
-- longer exists).
--#include clock.lua
--#include events.lua
--#include jobs.lua

local ttl = tonumber(ARGV[1])
local now = now_ms()
local expires = string.format('%d', now + ttl)
local n = tonumber(ARGV[2])
local worked = listened(K.events) and {} or nil -- events are built only while anybody listens
local replies, count, freed, result_bytes = {}, 0, 0, 0
-- The records in one command; the batch's writes in one command each at the end.
local ids = {}
for i = 1, n do
  ids[i] = ARGV[i * 3]
end
local records = redis.call('HMGET', K.jobs, unpack(ids))
local results, stored, done, expiring = {}, {}, {}, {}
local seen = {} -- a job named twice in one batch: the later outcome meets the record as the earlier one left it

for i = 1, n do
  local id, token = ids[i], ARGV[i * 3 + 1]
  local job = seen[id]
  if job == nil then
    job = records[i] and cjson.decode(records[i]) or false
  end
  if not holds_lease(job, token) then
    replies[i] = 'stale'
  elseif job.cancel_requested_at then
    end_cancelled(K, id, job, now, ttl)
    replies[i] = 'cancelled'
  else
    job.status = 'worked'
    job.finished_at = now
    job.lease = nil
    job.progress = nil
    on_end(K, id, job, now)
    results[#results + 1] = id
    results[#results + 1] = ARGV[i * 3 + 2]
    result_bytes = result_bytes + #ARGV[i * 3 + 2]
    stored[#stored + 1] = id
    stored[#stored + 1] = cjson.encode(job)
    done[#done + 1] = id
    expiring[#expiring + 1] = expires
    expiring[#expiring + 1] = id
    freed = freed + redis.call('HSTRLEN', K.payloads, id)
    if worked then
      worked[#worked + 1] = job_event('worked', id, job, now)
    end
    count = count + 1
    replies[i] = 'worked'
  end
  seen[id] = job
end

if count > 0 then
  -- The results first: were they refused, the jobs would still be working under their leases, with nothing half written.
  redis.call('HSET', K.results, unpack(results))
  redis.call('HSET', K.jobs, unpack(stored))
  count_bytes(K, 'unfinished_bytes', -freed)
  redis.call('HDEL', K.payloads, unpack(done))
  redis.call('ZREM', K.leases, unpack(done))
  redis.call('ZADD', K.expiry, unpack(expiring))
  redis.call('HINCRBY', K.stats, 'worked', count)
  count_bytes(K, 'result_bytes', result_bytes)
  bound_results(K, tonumber(ARGV[3 + 3 * n]), nil)
end
if worked and #worked > 0 then
  redis.call('PUBLISH', K.events, cjson.encode(#worked == 1 and worked[1] or worked)) -- one message for the batch
end
return replies
