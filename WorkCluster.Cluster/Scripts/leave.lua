-- leave: a node stops. Its key goes at once; its index entry is marked expired rather than removed, so that the
-- next sweep still hands anything it left behind to the living (then forgets it).
-- KEYS[1] the node's key   KEYS[2] nodes index (zset)
-- ARGV[1] node id
--#include clock.lua

redis.call('DEL', KEYS[1])
redis.call('ZADD', KEYS[2], 'XX', now_ms(), ARGV[1])
return 1
