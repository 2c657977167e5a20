-- fail: record the error, mark the job failed, take it off the worker's processing list, start its TTL.
-- KEYS[1] jobs   KEYS[2] payloads   KEYS[3] processing list of the worker   KEYS[4] expiry (zset)
-- ARGV[1] id   ARGV[2] worker id   ARGV[3] error   ARGV[4] TTL of the failed record (ms)
-- Returns 1 if this call failed the job, 0 if it was finished already or no longer exists.
--#include clock.lua

local id = ARGV[1]
redis.call('LREM', KEYS[3], 1, id)

local raw = redis.call('HGET', KEYS[1], id)
if not raw then
  return 0
end
local job = cjson.decode(raw)
if job.status == 'worked' or job.status == 'failed' then
  return 0
end

local now = now_ms()
job.status = 'failed'
job.worker = ARGV[2]
job.finished_at = now
job.last_error = ARGV[3]
redis.call('HSET', KEYS[1], id, cjson.encode(job))
redis.call('HDEL', KEYS[2], id)
redis.call('ZADD', KEYS[4], now + tonumber(ARGV[4]), id)
return 1
