#!lua flags=allow-oom
-- schedule_put: create or replace a recurring schedule. Its cursor (the first occurrence not yet fired) starts at the
-- given first occurrence; what it fired so far (counts, last job) is kept across a replacement, and its revision goes up,
-- so that a runner that read the old definition fires nothing of it.
-- KEYS[1] schedules (hash name -> definition JSON)   KEYS[2] cursors (zset name -> first unfired occurrence, ms)
-- ARGV[1] name   ARGV[2] definition (JSON: cron, time_zone, type, data (JSON text), priority)   ARGV[3] first occurrence (ms)
-- ARGV[4] most schedules
-- Returns { 1 created | 0 replaced | -1 too many schedules, revision }.
--#include clock.lua

local name = ARGV[1]
local now = now_ms()
local old = redis.call('HGET', KEYS[1], name)
if not old and redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[4]) then
  return { -1, 0 }
end
local schedule = cjson.decode(ARGV[2])
schedule.updated_at = now
if old then
  old = cjson.decode(old)
  schedule.revision = (old.revision or 0) + 1
  schedule.created_at = old.created_at
  schedule.fired, schedule.missed, schedule.refused = old.fired, old.missed, old.refused
  schedule.last_job, schedule.last_occurrence = old.last_job, old.last_occurrence
else
  schedule.revision = 1
  schedule.created_at = now
  schedule.fired, schedule.missed, schedule.refused = 0, 0, 0
end
redis.call('HSET', KEYS[1], name, cjson.encode(schedule))
redis.call('ZADD', KEYS[2], tonumber(ARGV[3]), name)
return { old and 0 or 1, schedule.revision }
