#!lua flags=allow-oom
-- promote: move scheduled jobs whose time has come (delayed jobs, retries after their backoff) to the ready queue
-- (at most N per call). Queue maintenance runs it every 250 ms besides the claim's own promotion, so that due jobs are
-- ready even while every worker is busy.
--! keys: scheduled ready signal jobs sequence events http
-- K.scheduled (zset id -> due ms)   K.ready (zset)   K.signal   K.jobs   K.sequence   K.events (channel)
-- K.http the HTTP workers' ready queue (zset)
-- ARGV[1] N   ARGV[2] priority aging (ms per level)
-- Returns the number of jobs moved.
--#include clock.lua
--#include signal.lua
--#include ready.lua
--#include events.lua
--#include promote.lua

local now = now_ms()
local moved = promote_due(K, now, tonumber(ARGV[1]), tonumber(ARGV[2]))
if moved > 0 then
  pass_signal(K.ready, K.signal)
end
return moved
