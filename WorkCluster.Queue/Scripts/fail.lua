#!lua flags=allow-oom
-- fail: the attempt under lease `token` failed. Schedule a retry after the given delay, or, after the last attempt,
-- file the job in the dead letter (its payload kept for a retry). Fenced like complete. A job whose cancellation was
-- requested ends cancelled instead (the usual end of a handler stopped by its token).
-- KEYS[1] jobs   KEYS[2] payloads   KEYS[3] results   KEYS[4] leases   KEYS[5] scheduled (zset id -> due ms)
-- KEYS[6] failed (zset id -> failed ms)   KEYS[7] expiry (zset)   KEYS[8] idempotency   KEYS[9] stats
-- KEYS[10] cancelled (zset)   KEYS[11] cancels (zset)   KEYS[12] webhooks (zset id -> due ms)   KEYS[13] events (channel)
-- ARGV[1] id   ARGV[2] lease token   ARGV[3] error   ARGV[4] retry delay (ms)   ARGV[5] max attempts
-- ARGV[6] TTL of a failed record (ms)   ARGV[7] most jobs in the dead letter   ARGV[8] most payload bytes in it
-- ARGV[9] TTL of a cancelled record (ms)
-- Returns 1 if a retry was scheduled, 2 if the job failed for good, 3 if it ended cancelled, 0 if the attempt is stale.
--#include clock.lua
--#include events.lua
--#include jobs.lua

local id = ARGV[1]
local K = { jobs = KEYS[1], payloads = KEYS[2], results = KEYS[3], failed = KEYS[6], expiry = KEYS[7],
  idempotency = KEYS[8], stats = KEYS[9], leases = KEYS[4], cancelled = KEYS[10], cancels = KEYS[11],
  webhooks = KEYS[12], events = KEYS[13] }
local raw = redis.call('HGET', K.jobs, id)
local job = raw and cjson.decode(raw)
if not holds_lease(job, ARGV[2]) then
  return 0
end

local now = now_ms()
if job.cancel_requested_at then
  end_cancelled(K, id, job, now, tonumber(ARGV[9]))
  return 3
end
job.last_error = ARGV[3]
redis.call('ZREM', KEYS[4], id)
if (job.attempts or 0) < tonumber(ARGV[5]) then
  job.status = 'pending'
  job.lease = nil
  job.progress = nil
  job.retry_at = now + tonumber(ARGV[4])
  redis.call('HSET', K.jobs, id, cjson.encode(job))
  redis.call('ZADD', KEYS[5], job.retry_at, id)
  announce(K.events, 'retried', id, job, now, { error = job.last_error, retry_at = job.retry_at })
  return 1
end

dead_letter(K, id, job, now, tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]))
return 2
