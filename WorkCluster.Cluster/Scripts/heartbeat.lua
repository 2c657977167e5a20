-- heartbeat: a node says it is alive. Its key holds its description and lives one TTL; the index remembers the
-- node (score: when its key expires) so that members are listed, and the dead found, without KEYS or SCAN.
-- KEYS[1] the node's key   KEYS[2] nodes index (zset id -> expiry ms)
-- ARGV[1] node id   ARGV[2] description (JSON)   ARGV[3] TTL (ms)
-- Returns 1 if the node was alive already, 0 if it (re)joined.
--#include clock.lua

local existed = redis.call('EXISTS', KEYS[1])
redis.call('SET', KEYS[1], ARGV[2], 'PX', tonumber(ARGV[3]))
redis.call('ZADD', KEYS[2], now_ms() + tonumber(ARGV[3]), ARGV[1])
return existed
