#!lua flags=allow-oom
-- progress: the attempt under lease `token` reports how far it has come. Stored with the job (shown until the job ends)
-- and published as a `progress` event. Fenced: an attempt that no longer holds the job's lease changes nothing.
--! keys: jobs events
-- K.jobs   K.events (channel)
-- ARGV[1] id   ARGV[2] lease token   ARGV[3] percent (0-100, or '' if not known)   ARGV[4] message ('' if none)
-- Returns 1 if it was stored, 0 if the attempt is stale.
--#include clock.lua
--#include events.lua
--#include jobs.lua

local id = ARGV[1]
local raw = redis.call('HGET', K.jobs, id)
local job = raw and cjson.decode(raw)
if not holds_lease(job, ARGV[2]) then
  return 0
end
local now = now_ms()
local progress = { at = now }
if ARGV[3] ~= '' then
  progress.percent = tonumber(ARGV[3])
end
if ARGV[4] ~= '' then
  progress.message = ARGV[4]
end
job.progress = progress
redis.call('HSET', K.jobs, id, cjson.encode(job))
announce(K.events, 'progress', id, job, now, { percent = progress.percent, message = progress.message })
return 1
