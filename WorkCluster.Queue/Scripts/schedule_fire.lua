#!lua
-- schedule_fire: move a schedule's cursor on by one step, creating the job of the occurrence it fires. Exactly once per
-- occurrence, whichever and however many runners race: the step lands only from the cursor the runner read (and the
-- definition revision it computed with); every other runner finds the cursor moved and does nothing. The job's id is
-- derived from the schedule's name, its salt and the occurrence, so an occurrence can never make two jobs. Not run past
-- Redis's maxmemory (no allow-oom): there, the whole step is refused, the cursor stays, and the runner tries again.
-- KEYS[1] schedules (hash)   KEYS[2] cursors (zset)   KEYS[3] jobs   KEYS[4] payloads   KEYS[5] ready (zset)
-- KEYS[6] signal   KEYS[7] scheduled (zset)   KEYS[8] leases (zset)   KEYS[9] stats   KEYS[10] sequence
-- KEYS[11] events (channel)   KEYS[12] the HTTP workers' ready queue (zset; schedules fire .NET work types only)
-- ARGV[1] name   ARGV[2] cursor read (ms)   ARGV[3] revision read   ARGV[4] occurrence to fire (ms; -1: none)
-- ARGV[5] occurrences skipped as missed   ARGV[6] the new cursor (ms; -1: the schedule never occurs again)
-- ARGV[7] job id   ARGV[8] accepted_by   ARGV[9] priority aging (ms per level)   ARGV[10] most unfinished jobs
-- ARGV[11] most unfinished payload bytes
-- Returns 'fired', 'skipped' (nothing to fire: missed ones only), 'refused' (the queue's budget was spent: the occurrence
-- is counted as refused), 'exists' (its job was made before), 'moved' (another runner stepped first, or the definition
-- changed), or 'early' (the occurrence has not come on Redis's clock).
--#include clock.lua
--#include signal.lua
--#include ready.lua
--#include events.lua
--#include create.lua

local name = ARGV[1]
local now = now_ms()
local cursor = redis.call('ZSCORE', KEYS[2], name)
if not cursor or tonumber(cursor) ~= tonumber(ARGV[2]) then
  return 'moved'
end
local raw = redis.call('HGET', KEYS[1], name)
local schedule = raw and cjson.decode(raw)
if not schedule or schedule.revision ~= tonumber(ARGV[3]) then
  return 'moved'
end
local occurrence = tonumber(ARGV[4])
if tonumber(ARGV[2]) > now or occurrence > now then
  return 'early'
end

if tonumber(ARGV[6]) >= 0 then
  redis.call('ZADD', KEYS[2], tonumber(ARGV[6]), name)
else
  redis.call('ZREM', KEYS[2], name)
end
schedule.missed = (schedule.missed or 0) + tonumber(ARGV[5])
local outcome = 'skipped'
if occurrence >= 0 then
  local K = { jobs = KEYS[3], payloads = KEYS[4], ready = KEYS[5], signal = KEYS[6], scheduled = KEYS[7],
    leases = KEYS[8], stats = KEYS[9], sequence = KEYS[10], http = KEYS[12] }
  local id = ARGV[7]
  if redis.call('HEXISTS', K.jobs, id) == 1 then
    outcome = 'exists'
  elseif refusal(K, #schedule.data, tonumber(ARGV[10]), tonumber(ARGV[11])) then
    outcome = 'refused'
    schedule.refused = (schedule.refused or 0) + 1
  else
    local job = { type = schedule.type, accepted_by = ARGV[8], schedule = name, occurrence = occurrence }
    if schedule.priority ~= 5 then
      job.priority = schedule.priority
    end
    create_job(K, id, job, schedule.data, nil, now, tonumber(ARGV[9]))
    announce(KEYS[11], 'accepted', id, job, now, { status = job.status, priority = job.priority, schedule = name })
    outcome = 'fired'
    schedule.fired = (schedule.fired or 0) + 1
    schedule.last_job = id
  end
  schedule.last_occurrence = occurrence
end
redis.call('HSET', KEYS[1], name, cjson.encode(schedule))
return outcome
