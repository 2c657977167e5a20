-- claim: move up to N jobs from the head of the queue to this worker's processing list and mark them working.
-- KEYS[1] queue   KEYS[2] processing list of this worker   KEYS[3] jobs   KEYS[4] payloads
-- KEYS[5] signal  KEYS[6] paused flag   KEYS[7] (optional) the worker's liveness key
-- ARGV[1] worker id   ARGV[2] N (at most this many jobs)
-- Returns a flat array: id, record (JSON), data (JSON text), ... for each claimed job; or the integer -1, claiming
-- nothing, if the liveness key is given and absent: a job on the list of a worker the cluster cannot see would
-- never be taken back should that worker die.
--#include clock.lua
--#include signal.lua

if KEYS[7] and redis.call('EXISTS', KEYS[7]) == 0 then
  return -1
end
if redis.call('EXISTS', KEYS[6]) == 1 then
  return {}
end

local now = now_ms()
local claimed = {}
for _ = 1, tonumber(ARGV[2]) do
  local id = redis.call('LMOVE', KEYS[1], KEYS[2], 'RIGHT', 'LEFT')
  if not id then
    break
  end
  local raw = redis.call('HGET', KEYS[3], id)
  local job = raw and cjson.decode(raw)
  if job and job.status == 'pending' then
    job.status = 'working'
    job.worker = ARGV[1]
    job.started_at = now
    job.attempts = (job.attempts or 0) + 1
    job.retry_at = nil
    raw = cjson.encode(job)
    redis.call('HSET', KEYS[3], id, raw)
    claimed[#claimed + 1] = id
    claimed[#claimed + 1] = raw
    claimed[#claimed + 1] = redis.call('HGET', KEYS[4], id) or 'null'
  else
    -- A stale entry: the record expired, or another run already finished it. Nothing to do.
    redis.call('LREM', KEYS[2], 1, id)
  end
end

pass_signal(KEYS[1], KEYS[5])
return claimed
