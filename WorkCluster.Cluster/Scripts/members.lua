-- members: the ids in the index whose key has not expired (alive = 1) or has (alive = 0), by the server's clock.
-- KEYS[1] nodes index (zset id -> expiry ms)
-- ARGV[1] 1 for the living, 0 for the dead
--#include clock.lua

if ARGV[1] == '1' then
  return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now_ms(), '+inf')
end
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms())
