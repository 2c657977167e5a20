#!lua flags=allow-oom
-- promote: move scheduled jobs whose time has come (delayed jobs, retries after their backoff) to the ready queue
-- (at most N per call); and, once, the jobs a version before priorities left in its queue list. Workers run it every
-- 250 ms besides the claim's own promotion, so that due jobs are ready even while every worker is busy.
-- KEYS[1] scheduled (zset id -> due ms)   KEYS[2] ready (zset)   KEYS[3] signal   KEYS[4] jobs   KEYS[5] sequence
-- KEYS[6] the former queue (list)   KEYS[7] events (channel)   KEYS[8] the HTTP workers' ready queue (zset)
-- ARGV[1] N   ARGV[2] priority aging (ms per level)
-- Returns the number of jobs moved.
--#include clock.lua
--#include signal.lua
--#include ready.lua
--#include events.lua
--#include promote.lua

local now = now_ms()
local K = { scheduled = KEYS[1], ready = KEYS[2], jobs = KEYS[4], sequence = KEYS[5], events = KEYS[7], http = KEYS[8] }
local moved = promote_due(K, now, tonumber(ARGV[1]), tonumber(ARGV[2]))
-- The former queue held ids, oldest on the right: each joins the ready queue as of its submission.
while moved < tonumber(ARGV[1]) do
  local id = redis.call('RPOP', KEYS[6])
  if not id then
    break
  end
  local raw = redis.call('HGET', K.jobs, id)
  local job = raw and cjson.decode(raw)
  if job and job.status == 'pending' then
    make_ready(K.ready, id, rank_of(job.created_at or now, job.priority or 5, tonumber(ARGV[2]), K.sequence))
  end
  moved = moved + 1
end
if moved > 0 then
  pass_signal(K.ready, KEYS[3])
end
return moved
