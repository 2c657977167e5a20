#!lua flags=allow-oom
-- renew: extend the leases a worker holds, all in one call, for one more lease TTL from now. A lease is extended only
-- if it is still the job's current one; the others are reported lost (their lease lapsed and the job was taken back,
-- or it moved on), so that the worker stops their handlers; and so are the held leases of jobs whose cancellation was
-- requested (the way a worker learns of it when the mesh could not tell it). An attempt that has run longer than its
-- type's timeout plus the grace (its handler ignores the cancellation at the timeout) is not renewed any more: it is
-- marked overdue and reported, its lease lapses, and the sweep retries the job or fails it for good. Runs under
-- maxmemory (allow-oom).
--! keys: leases jobs
-- K.leases (zset id -> deadline ms)   K.jobs
-- ARGV[1] lease TTL (ms)   ARGV[2] the longest an attempt may hold a lease (ms: the timeout plus the grace)
-- ARGV[3] m, the work types with a timeout of their own, then m pairs: type, the longest for it (ms)
-- then pairs: id, lease token
-- Returns { the numbers k (1-based) of the pairs whose lease is lost, those whose job's cancellation was requested,
-- those not renewed because their attempt is overdue }.
--#include clock.lua
--#include events.lua
--#include jobs.lua

local now = now_ms()
local deadline = now + tonumber(ARGV[1])
local longest = tonumber(ARGV[2])
local own = {}
local m = tonumber(ARGV[3])
for i = 4, 3 + 2 * m, 2 do
  own[ARGV[i]] = tonumber(ARGV[i + 1])
end
local first = 4 + 2 * m
local lost, cancelling, overdue = {}, {}, {}
for i = first, #ARGV, 2 do
  local k = (i - first) / 2 + 1
  local id, token = ARGV[i], ARGV[i + 1]
  local held, late = false, false
  if redis.call('ZSCORE', K.leases, id) then
    local raw = redis.call('HGET', K.jobs, id)
    local job = raw and cjson.decode(raw)
    held = holds_lease(job, token)
    if held and now - (job.started_at or now) > (own[job.type] or longest) then
      held, late = false, true
      if not job.overdue_at then
        job.overdue_at = now -- the sweep says why it takes the job back
        redis.call('HSET', K.jobs, id, cjson.encode(job))
      end
    elseif held and job.cancel_requested_at then
      cancelling[#cancelling + 1] = k
    end
  end
  if held then
    redis.call('ZADD', K.leases, 'XX', deadline, id)
  elseif late then
    overdue[#overdue + 1] = k
  else
    lost[#lost + 1] = k
  end
end
return { lost, cancelling, overdue }
