#!lua flags=allow-oom
-- touch: a worker of the HTTP lease protocol showed it is alive (it renewed a lease): its registration, if it still
-- has one, lives one more TTL, as a heartbeat would make it, its description unchanged.
--! keys: node nodes
-- K.node the node's key   K.nodes index (zset id -> expiry ms)
-- ARGV[1] node id   ARGV[2] TTL (ms)
-- Returns 1 if the node was registered, 0 if not (it registers again at its next lease call).
--#include clock.lua

if redis.call('PEXPIRE', K.node, tonumber(ARGV[2])) == 0 then
  return 0
end
redis.call('ZADD', K.nodes, now_ms() + tonumber(ARGV[2]), ARGV[1])
return 1
