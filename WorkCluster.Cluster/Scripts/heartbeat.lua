#!lua flags=allow-oom
-- heartbeat: a node says it is alive. Its key holds its description and lives one TTL; the index remembers the
-- node (score: when its key expires) so that members are listed without KEYS or SCAN, and forgets the nodes whose key
-- has expired. Joins and departures are published as events (member.joined, member.left). Runs under maxmemory
-- (allow-oom): a node must be able to join while Redis is full.
--! keys: node nodes events
-- K.node the node's key   K.nodes index (zset id -> expiry ms)   K.events (channel)
-- ARGV[1] node id   ARGV[2] description (JSON)   ARGV[3] TTL (ms)
-- ARGV[4] (optional) 'http': a worker of the HTTP lease protocol, registered by the API for it, which may not take the
-- place of a live node of another kind (a mesh member) of the same id
-- Returns 1 if the node was alive already, 0 if it (re)joined, -1 if the id is a live node of another kind.
--#include clock.lua
--#include events.lua

local now = now_ms()
local current = redis.call('GET', K.node)
if current and ARGV[4] == 'http' and cjson.decode(current).protocol ~= 'http' then
  return -1
end
local existed = current and 1 or 0
redis.call('SET', K.node, ARGV[2], 'PX', tonumber(ARGV[3]))
redis.call('ZADD', K.nodes, now + tonumber(ARGV[3]), ARGV[1])
for _, gone in ipairs(redis.call('ZRANGEBYSCORE', K.nodes, '-inf', now)) do
  publish_event(K.events, { type = 'member.left', node = gone, at = now, reason = 'heartbeat expired' })
end
redis.call('ZREMRANGEBYSCORE', K.nodes, '-inf', now)
if existed == 0 then
  publish_event(K.events, { type = 'member.joined', node = ARGV[1], at = now, member = cjson.decode(ARGV[2]) })
end
return existed
