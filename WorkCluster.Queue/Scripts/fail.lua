#!lua flags=allow-oom
-- fail: the attempt under lease `token` failed. Schedule a retry after the given delay, or, after the last attempt,
-- file the job in the dead letter (its payload kept for a retry). Fenced like complete. A job whose cancellation was
-- requested ends cancelled instead (the usual end of a handler stopped by its token).
--! keys: jobs payloads results leases scheduled failed expiry idempotency stats cancelled cancels webhooks events
-- K.jobs   K.payloads   K.results   K.leases   K.scheduled (zset id -> due ms)
-- K.failed (zset id -> failed ms)   K.expiry (zset)   K.idempotency   K.stats
-- K.cancelled (zset)   K.cancels (zset)   K.webhooks (zset id -> due ms)   K.events (channel)
-- ARGV[1] id   ARGV[2] lease token   ARGV[3] error   ARGV[4] retry delay (ms)   ARGV[5] max attempts
-- ARGV[6] TTL of a failed record (ms)   ARGV[7] most jobs in the dead letter   ARGV[8] most payload bytes in it
-- ARGV[9] TTL of a cancelled record (ms)
-- Returns (the names of QueueOutcome, see WorkCluster.Queue/QueueOutcome.cs) 'retry_scheduled', 'dead_lettered' (failed for good),
-- 'cancelled', or 'stale' (the attempt no longer holds the job).
--#include clock.lua
--#include events.lua
--#include jobs.lua

local id = ARGV[1]
local raw = redis.call('HGET', K.jobs, id)
local job = raw and cjson.decode(raw)
if not holds_lease(job, ARGV[2]) then
  return 'stale'
end

local now = now_ms()
if job.cancel_requested_at then
  end_cancelled(K, id, job, now, tonumber(ARGV[9]))
  return 'cancelled'
end
job.last_error = ARGV[3]
redis.call('ZREM', K.leases, id)
if (job.attempts or 0) < tonumber(ARGV[5]) then
  job.status = 'pending'
  job.lease = nil
  job.progress = nil
  job.retry_at = now + tonumber(ARGV[4])
  redis.call('HSET', K.jobs, id, cjson.encode(job))
  redis.call('ZADD', K.scheduled, job.retry_at, id)
  announce(K.events, 'retried', id, job, now, { error = job.last_error, retry_at = job.retry_at })
  return 'retry_scheduled'
end

dead_letter(K, id, job, now, tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]))
return 'dead_lettered'
