#!lua flags=allow-oom
-- release: a stopping worker hands back a job whose handler has returned without finishing it: back to its place in
-- the ready queue, the attempt not counted. Fenced like complete.
-- KEYS[1] jobs   KEYS[2] leases   KEYS[3] ready (zset)   KEYS[4] signal
-- ARGV[1] id   ARGV[2] lease token   ARGV[3] priority aging (ms per level)
-- Returns 1 if the job went back, 0 if the attempt is stale.
--#include signal.lua
--#include jobs.lua
--#include ready.lua

local id = ARGV[1]
local raw = redis.call('HGET', KEYS[1], id)
local job = raw and cjson.decode(raw)
if not holds_lease(job, ARGV[2]) then
  return 0
end
job.status = 'pending'
job.attempts = math.max((job.attempts or 1) - 1, 0)
job.worker = nil
job.started_at = nil
job.lease = nil
redis.call('HSET', KEYS[1], id, cjson.encode(job))
redis.call('ZREM', KEYS[2], id)
make_ready_again(KEYS[3], id, job, tonumber(ARGV[3]))
pass_signal(KEYS[3], KEYS[4])
return 1
