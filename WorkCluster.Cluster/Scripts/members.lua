-- members: the ids in the index whose key has not expired, by the server's clock.
--! keys: nodes
-- K.nodes index (zset id -> expiry ms)
--#include clock.lua

return redis.call('ZRANGEBYSCORE', K.nodes, '(' .. now_ms(), '+inf')
