#!lua
-- schedule_put: create or replace a recurring schedule. Its cursor (the first occurrence not yet fired) starts at the
-- given first occurrence; what it fired so far (counts, last job) is kept across a replacement, and its revision goes up,
-- so that a runner that read the old definition fires nothing of it (revisions come from a counter: they rise across a
-- delete and a re-creation too). The salt of its job ids is kept too.
-- KEYS[1] schedules (hash name -> definition JSON)   KEYS[2] cursors (zset name -> first unfired occurrence, ms)
-- KEYS[3] revisions (counter)
-- ARGV[1] name   ARGV[2] definition (JSON: cron, time_zone, type, data (JSON text), priority, salt)
-- ARGV[3] first occurrence (ms, after Redis's clock's now)   ARGV[4] most schedules
-- Returns { 1 created | 0 replaced | -1 too many schedules | -2 first occurrence not after now, revision }.
--#include clock.lua

local name = ARGV[1]
local now = now_ms()
if tonumber(ARGV[3]) <= now then
  return { -2, 0 } -- computed from a clock behind Redis's: the caller computes again
end
local old = redis.call('HGET', KEYS[1], name)
if not old and redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[4]) then
  return { -1, 0 }
end
local schedule = cjson.decode(ARGV[2])
schedule.updated_at = now
if old then
  old = cjson.decode(old)
  schedule.created_at = old.created_at
  schedule.salt = old.salt or schedule.salt
  schedule.fired, schedule.missed, schedule.refused = old.fired, old.missed, old.refused
  schedule.last_job, schedule.last_occurrence = old.last_job, old.last_occurrence
else
  schedule.created_at = now
  schedule.fired, schedule.missed, schedule.refused = 0, 0, 0
end
schedule.revision = redis.call('INCR', KEYS[3])
redis.call('HSET', KEYS[1], name, cjson.encode(schedule))
redis.call('ZADD', KEYS[2], tonumber(ARGV[3]), name)
return { old and 0 or 1, schedule.revision }
