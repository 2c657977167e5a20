-- release: a stopping worker hands back a job it will not finish: to the head of the queue, the attempt not
-- counted.
-- KEYS[1] processing list of the worker   KEYS[2] queue   KEYS[3] jobs   KEYS[4] signal
-- ARGV[1] worker id   ARGV[2] id
-- Returns 1 if the job went back, 0 if it was not this worker's to give back.
--#include signal.lua

local id = ARGV[2]
if redis.call('LREM', KEYS[1], 1, id) == 0 then
  return 0
end
local raw = redis.call('HGET', KEYS[3], id)
local job = raw and cjson.decode(raw)
if not job or job.status ~= 'working' or job.worker ~= ARGV[1] then
  return 0
end
job.status = 'pending'
job.attempts = math.max((job.attempts or 1) - 1, 0)
job.worker = nil
job.started_at = nil
redis.call('HSET', KEYS[3], id, cjson.encode(job))
redis.call('RPUSH', KEYS[2], id)
pass_signal(KEYS[2], KEYS[4])
return 1
