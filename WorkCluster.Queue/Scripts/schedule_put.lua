#!lua
-- schedule_put: create or replace a recurring schedule. Its cursor (the first occurrence not yet fired) starts at the
-- given first occurrence; what it fired so far (counts, last job) is kept across a replacement, and its revision goes up,
-- so that a runner that read the old definition fires nothing of it (revisions come from a counter: they rise across a
-- delete and a re-creation too). The salt of its job ids is kept too.
--! keys: schedules schedule_cursors schedule_revisions
-- K.schedules (hash name -> definition JSON)   K.schedule_cursors cursors (zset name -> first unfired occurrence, ms)
-- K.schedule_revisions revisions (counter)
-- ARGV[1] name   ARGV[2] definition (JSON: cron, time_zone, type, data (JSON text), priority, salt)
-- ARGV[3] first occurrence (ms, after Redis's clock's now)   ARGV[4] most schedules
-- Returns { outcome, revision } (the names of QueueOutcome, see WorkCluster.Queue/QueueOutcome.cs): 'created', 'replaced', 'too_many' (too many
-- schedules), or 'stale' (the first occurrence is not after now: computed from a clock behind Redis's).
--#include clock.lua

local name = ARGV[1]
local now = now_ms()
if tonumber(ARGV[3]) <= now then
  return { 'stale', 0 } -- computed from a clock behind Redis's: the caller computes again
end
local old = redis.call('HGET', K.schedules, name)
if not old and redis.call('HLEN', K.schedules) >= tonumber(ARGV[4]) then
  return { 'too_many', 0 }
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
schedule.revision = redis.call('INCR', K.schedule_revisions)
redis.call('HSET', K.schedules, name, cjson.encode(schedule))
redis.call('ZADD', K.schedule_cursors, tonumber(ARGV[3]), name)
return { old and 'replaced' or 'created', schedule.revision }
