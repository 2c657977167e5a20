#!lua flags=allow-oom
-- leave: a node stops; its key and its index entry go at once, and its departure is published (member.left).
--! keys: node nodes events
-- K.node the node's key   K.nodes index (zset)   K.events (channel)
-- ARGV[1] node id
--#include clock.lua
--#include events.lua

if redis.call('ZREM', K.nodes, ARGV[1]) == 1 then
  publish_event(K.events, { type = 'member.left', node = ARGV[1], at = now_ms(), reason = 'stopped' })
end
redis.call('DEL', K.node)
return 1
