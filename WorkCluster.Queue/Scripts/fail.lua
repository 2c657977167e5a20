-- fail: an attempt of a job failed. Schedule a retry after the given delay, or, after the last attempt, mark the
-- job failed (dead letter). Either way it leaves the worker's processing list; its payload stays for a retry.
-- KEYS[1] jobs   KEYS[2] processing list of the worker   KEYS[3] scheduled (zset id -> due ms)
-- KEYS[4] failed (zset id -> failed ms)   KEYS[5] expiry (zset)   KEYS[6] stats (hash of totals)
-- ARGV[1] id   ARGV[2] worker id   ARGV[3] error   ARGV[4] retry delay (ms)   ARGV[5] max attempts
-- ARGV[6] TTL of a failed record (ms)
-- Returns 1 if a retry was scheduled, 2 if the job failed for good, 0 if the attempt was not this worker's.
--#include clock.lua

local id = ARGV[1]
redis.call('LREM', KEYS[2], 1, id)

local raw = redis.call('HGET', KEYS[1], id)
if not raw then
  return 0
end
local job = cjson.decode(raw)
if job.status ~= 'working' or job.worker ~= ARGV[2] then
  -- Not this worker's attempt any more (it was presumed dead and the job moved on): nothing to record.
  return 0
end

local now = now_ms()
job.last_error = ARGV[3]
job.worker = ARGV[2]
if (job.attempts or 0) < tonumber(ARGV[5]) then
  job.status = 'pending'
  job.retry_at = now + tonumber(ARGV[4])
  redis.call('HSET', KEYS[1], id, cjson.encode(job))
  redis.call('ZADD', KEYS[3], job.retry_at, id)
  return 1
end

job.status = 'failed'
job.finished_at = now
redis.call('HSET', KEYS[1], id, cjson.encode(job))
redis.call('ZADD', KEYS[4], now, id)
redis.call('ZADD', KEYS[5], now + tonumber(ARGV[6]), id)
redis.call('HINCRBY', KEYS[6], 'failed', 1)
return 2
