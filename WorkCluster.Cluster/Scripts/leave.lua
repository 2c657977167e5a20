#!lua flags=allow-oom
-- leave: a node stops; its key and its index entry go at once, and its departure is published (member.left).
-- KEYS[1] the node's key   KEYS[2] nodes index (zset)   KEYS[3] events (channel)
-- ARGV[1] node id
--#include clock.lua
--#include events.lua

if redis.call('ZREM', KEYS[2], ARGV[1]) == 1 then
  publish_event(KEYS[3], { type = 'member.left', node = ARGV[1], at = now_ms(), reason = 'stopped' })
end
redis.call('DEL', KEYS[1])
return 1
