#!lua flags=allow-oom
-- promote: move retries whose time has come from the schedule to the tail of the queue (at most N per call).
-- KEYS[1] scheduled (zset id -> due ms)   KEYS[2] queue   KEYS[3] signal
-- ARGV[1] N
-- Returns the number of jobs moved.
--#include clock.lua
--#include signal.lua

local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms(), 'LIMIT', 0, tonumber(ARGV[1]))
for _, id in ipairs(due) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('LPUSH', KEYS[2], id)
end
if #due > 0 then
  pass_signal(KEYS[2], KEYS[3])
end
return #due
