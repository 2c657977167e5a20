#!lua
-- schedule_fire: move a schedule's cursor on by one step, creating the job of the occurrence it fires. Exactly once per
-- occurrence, whichever and however many runners race: the step lands only from the cursor the runner read (and the
-- definition revision it computed with); every other runner finds the cursor moved and does nothing. The job's id is
-- derived from the schedule's name, its salt and the occurrence, so an occurrence can never make two jobs. Not run past
-- Redis's maxmemory (no allow-oom): there, the whole step is refused, the cursor stays, and the runner tries again.
--! keys: schedules schedule_cursors jobs payloads ready signal scheduled leases stats sequence events http
-- K.schedules (hash)   K.schedule_cursors cursors (zset)   K.jobs   K.payloads   K.ready (zset)
-- K.signal   K.scheduled (zset)   K.leases (zset)   K.stats   K.sequence
-- K.events (channel)   K.http the HTTP workers' ready queue (zset; schedules fire .NET work types only)
-- ARGV[1] name   ARGV[2] cursor read (ms)   ARGV[3] revision read   ARGV[4] occurrence to fire (ms; -1: none)
-- ARGV[5] occurrences skipped as missed   ARGV[6] the new cursor (ms; -1: the schedule never occurs again)
-- ARGV[7] job id   ARGV[8] accepted_by   ARGV[9] priority aging (ms per level)   ARGV[10] most unfinished jobs
-- ARGV[11] most unfinished payload bytes
-- Returns (the names of QueueOutcome, see WorkCluster.Queue/QueueOutcome.cs) 'created' (its job was made), 'skipped' (nothing to fire: missed
-- ones only), 'queue_full' (the queue's budget was spent: the occurrence is counted as refused), 'replayed' (its job was
-- made before), 'stale' (another runner stepped first, or the definition changed), or 'not_due' (the occurrence has not
-- come on Redis's clock).
--#include clock.lua
--#include signal.lua
--#include ready.lua
--#include events.lua
--#include create.lua

local name = ARGV[1]
local now = now_ms()
local cursor = redis.call('ZSCORE', K.schedule_cursors, name)
if not cursor or tonumber(cursor) ~= tonumber(ARGV[2]) then
  return 'stale'
end
local raw = redis.call('HGET', K.schedules, name)
local schedule = raw and cjson.decode(raw)
if not schedule or schedule.revision ~= tonumber(ARGV[3]) then
  return 'stale'
end
local occurrence = tonumber(ARGV[4])
if tonumber(ARGV[2]) > now or occurrence > now then
  return 'not_due'
end

if tonumber(ARGV[6]) >= 0 then
  redis.call('ZADD', K.schedule_cursors, tonumber(ARGV[6]), name)
else
  redis.call('ZREM', K.schedule_cursors, name)
end
schedule.missed = (schedule.missed or 0) + tonumber(ARGV[5])
local outcome = 'skipped'
if occurrence >= 0 then
  local id = ARGV[7]
  if redis.call('HEXISTS', K.jobs, id) == 1 then
    outcome = 'replayed'
  elseif refusal(K, #schedule.data, tonumber(ARGV[10]), tonumber(ARGV[11])) then
    outcome = 'queue_full'
    schedule.refused = (schedule.refused or 0) + 1
  else
    local job = { type = schedule.type, accepted_by = ARGV[8], schedule = name, occurrence = occurrence }
    if schedule.priority ~= 5 then
      job.priority = schedule.priority
    end
    create_job(K, id, job, schedule.data, nil, now, tonumber(ARGV[9]))
    announce(K.events, 'accepted', id, job, now, { status = job.status, priority = job.priority, schedule = name })
    outcome = 'created'
    schedule.fired = (schedule.fired or 0) + 1
    schedule.last_job = id
  end
  schedule.last_occurrence = occurrence
end
redis.call('HSET', K.schedules, name, cjson.encode(schedule))
return outcome
