#!lua flags=allow-oom
-- complete: attempts that succeeded, each under its lease `token`: store the result, mark the job worked, end its
-- lease, free its payload, start its TTL. Fenced: an attempt that no longer holds the job's lease changes nothing. A
-- job whose cancellation was requested ends cancelled instead (its result is not kept). One call takes a batch of
-- outcomes (group commit: a worker sends the outcomes that arrived while its previous call was on the way), each
-- handled in turn exactly as if it came alone.
-- KEYS[1] jobs   KEYS[2] payloads   KEYS[3] results   KEYS[4] leases   KEYS[5] expiry (zset)   KEYS[6] stats
-- KEYS[7] cancelled (zset)   KEYS[8] cancels (zset)   KEYS[9] webhooks (zset id -> due ms)   KEYS[10] events (channel)
-- ARGV[1] result TTL (ms)   ARGV[2] n, the outcomes that follow, 3 arguments each: id, lease token, result (JSON text)
-- Returns, for each outcome in turn, 1 if the result was stored, 2 if the job ended cancelled, 0 if the attempt is
-- stale (its lease lapsed and the job was taken back or finished by another attempt, or was cancelled, or the job no
-- longer exists).
--#include clock.lua
--#include events.lua
--#include jobs.lua

local K = { jobs = KEYS[1], payloads = KEYS[2], leases = KEYS[4], expiry = KEYS[5], stats = KEYS[6], cancelled = KEYS[7],
  cancels = KEYS[8], webhooks = KEYS[9], events = KEYS[10] }
local ttl = tonumber(ARGV[1])
local now = now_ms()
local worked = listened(K.events) and {} or nil -- events are built only while anybody listens
local replies, count = {}, 0

local function complete(id, token, result)
  local raw = redis.call('HGET', K.jobs, id)
  local job = raw and cjson.decode(raw)
  if not holds_lease(job, token) then
    return 0
  end
  if job.cancel_requested_at then
    end_cancelled(K, id, job, now, ttl)
    return 2
  end
  job.status = 'worked'
  job.finished_at = now
  job.lease = nil
  job.progress = nil
  on_end(K, id, job, now)
  -- The result first: were it refused, the job would still be working under this lease, with nothing half written.
  redis.call('HSET', KEYS[3], id, result)
  redis.call('HSET', K.jobs, id, cjson.encode(job))
  if worked then
    worked[#worked + 1] = job_event('worked', id, job, now)
  end
  count_bytes(K, 'unfinished_bytes', -redis.call('HSTRLEN', K.payloads, id))
  redis.call('HDEL', K.payloads, id)
  redis.call('ZREM', K.leases, id)
  redis.call('ZADD', K.expiry, now + ttl, id)
  count = count + 1
  return 1
end

for i = 0, tonumber(ARGV[2]) - 1 do
  local a = 3 + i * 3
  replies[#replies + 1] = complete(ARGV[a], ARGV[a + 1], ARGV[a + 2])
end
if count > 0 then
  redis.call('HINCRBY', K.stats, 'worked', count)
end
if worked and #worked > 0 then
  redis.call('PUBLISH', K.events, cjson.encode(#worked == 1 and worked[1] or worked)) -- one message for the batch
end
return replies
