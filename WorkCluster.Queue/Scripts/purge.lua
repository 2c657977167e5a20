-- purge: delete finished jobs whose TTL has passed (at most N per call).
-- KEYS[1] expiry (zset)   KEYS[2] jobs   KEYS[3] payloads   KEYS[4] results
-- ARGV[1] N
-- Returns the number of jobs deleted.
--#include clock.lua

local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms(), 'LIMIT', 0, tonumber(ARGV[1]))
for _, id in ipairs(ids) do
  redis.call('HDEL', KEYS[2], id)
  redis.call('HDEL', KEYS[3], id)
  redis.call('HDEL', KEYS[4], id)
  redis.call('ZREM', KEYS[1], id)
end
return #ids
