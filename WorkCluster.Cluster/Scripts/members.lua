-- members: the ids in the index whose key has not expired, by the server's clock.
-- KEYS[1] nodes index (zset id -> expiry ms)
--#include clock.lua

return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now_ms(), '+inf')
