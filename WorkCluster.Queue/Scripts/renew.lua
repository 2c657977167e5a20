#!lua flags=allow-oom
-- renew: extend the leases a worker holds, all in one call, for one more lease TTL from now. A lease is extended only
-- if it is still the job's current one; the others are reported lost (their lease lapsed and the job was taken back,
-- or it moved on), so that the worker stops their handlers; and so are the held leases of jobs whose cancellation was
-- requested (the way a worker learns of it when the mesh could not tell it). Runs under maxmemory (allow-oom).
-- KEYS[1] leases (zset id -> deadline ms)   KEYS[2] jobs
-- ARGV[1] lease TTL (ms), then pairs: ARGV[2k] id, ARGV[2k+1] lease token
-- Returns { the numbers k (1-based) of the pairs whose lease is lost, those whose job's cancellation was requested }.
--#include clock.lua
--#include events.lua
--#include jobs.lua

local deadline = now_ms() + tonumber(ARGV[1])
local lost, cancelling = {}, {}
for i = 2, #ARGV, 2 do
  local id, token = ARGV[i], ARGV[i + 1]
  local held = false
  if redis.call('ZSCORE', KEYS[1], id) then
    local raw = redis.call('HGET', KEYS[2], id)
    local job = raw and cjson.decode(raw)
    held = holds_lease(job, token)
    if held and job.cancel_requested_at then
      cancelling[#cancelling + 1] = i / 2
    end
  end
  if held then
    redis.call('ZADD', KEYS[1], 'XX', deadline, id)
  else
    lost[#lost + 1] = i / 2
  end
end
return { lost, cancelling }
