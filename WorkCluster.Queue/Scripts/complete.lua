#!lua flags=allow-oom
-- complete: attempts that succeeded, each under its lease `token`: store the result, mark the job worked, end its
-- lease, free its payload, start its TTL. Fenced: an attempt that no longer holds the job's lease changes nothing. A
-- job whose cancellation was requested ends cancelled instead (its result is not kept). One call takes a batch of
-- outcomes (group commit: a worker sends the outcomes that arrived while its previous call was on the way), each
-- handled in turn exactly as if it came alone.
-- KEYS[1] jobs   KEYS[2] payloads   KEYS[3] results   KEYS[4] leases   KEYS[5] expiry (zset)   KEYS[6] stats
-- KEYS[7] cancelled (zset)   KEYS[8] cancels (zset)   KEYS[9] webhooks (zset id -> due ms)   KEYS[10] events (channel)
-- KEYS[11] failed (zset)   KEYS[12] idempotency (hash): for the jobs that go early when results pass their budget
-- ARGV[1] result TTL (ms)   ARGV[2] n, the outcomes that follow, 3 arguments each: id, lease token, result (JSON text)
-- ARGV[3 + 3n] the most bytes of results kept in all (past it, those that expire first go early; see bound_results)
-- Returns, for each outcome in turn, 1 if the result was stored, 2 if the job ended cancelled, 0 if the attempt is
-- stale (its lease lapsed and the job was taken back or finished by another attempt, or was cancelled, or the job no
-- longer exists).
--#include clock.lua
--#include events.lua
--#include jobs.lua

local K = { jobs = KEYS[1], payloads = KEYS[2], results = KEYS[3], leases = KEYS[4], expiry = KEYS[5], stats = KEYS[6],
  cancelled = KEYS[7], cancels = KEYS[8], webhooks = KEYS[9], events = KEYS[10], failed = KEYS[11], idempotency = KEYS[12] }
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
    replies[i] = 0
  elseif job.cancel_requested_at then
    end_cancelled(K, id, job, now, ttl)
    replies[i] = 2
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
    replies[i] = 1
  end
  seen[id] = job
end

if count > 0 then
  -- The results first: were they refused, the jobs would still be working under their leases, with nothing half written.
  redis.call('HSET', KEYS[3], unpack(results))
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
