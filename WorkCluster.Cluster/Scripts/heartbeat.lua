#!lua flags=allow-oom
-- heartbeat: a node says it is alive. Its key holds its description and lives one TTL; the index remembers the
-- node (score: when its key expires) so that members are listed without KEYS or SCAN, and forgets the nodes whose key
-- has expired. Runs under maxmemory (allow-oom): a node must be able to join while Redis is full.
-- KEYS[1] the node's key   KEYS[2] nodes index (zset id -> expiry ms)
-- ARGV[1] node id   ARGV[2] description (JSON)   ARGV[3] TTL (ms)
-- Returns 1 if the node was alive already, 0 if it (re)joined.
--#include clock.lua

local now = now_ms()
local existed = redis.call('EXISTS', KEYS[1])
redis.call('SET', KEYS[1], ARGV[2], 'PX', tonumber(ARGV[3]))
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
return existed
