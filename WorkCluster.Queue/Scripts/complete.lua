-- complete: store the result, mark the job worked, take it off the worker's processing list, start its TTL.
-- KEYS[1] jobs   KEYS[2] payloads   KEYS[3] results   KEYS[4] processing list of the worker   KEYS[5] expiry (zset)
-- KEYS[6] stats (hash of totals)
-- ARGV[1] id   ARGV[2] worker id   ARGV[3] result (JSON text)   ARGV[4] result TTL (ms)
-- Returns 1 if this call finished the job, 0 if it was finished already or no longer exists.
--#include clock.lua

local id = ARGV[1]
redis.call('LREM', KEYS[4], 1, id)

local raw = redis.call('HGET', KEYS[1], id)
if not raw then
  return 0
end
local job = cjson.decode(raw)
if job.status == 'worked' or job.status == 'failed' then
  return 0
end

local now = now_ms()
job.status = 'worked'
job.worker = ARGV[2]
job.finished_at = now
job.retry_at = nil
redis.call('HSET', KEYS[1], id, cjson.encode(job))
redis.call('HSET', KEYS[3], id, ARGV[3])
redis.call('HDEL', KEYS[2], id)
redis.call('ZADD', KEYS[5], now + tonumber(ARGV[4]), id)
redis.call('HINCRBY', KEYS[6], 'worked', 1)
return 1
