#!lua flags=allow-oom
-- release: a stopping worker hands back a job whose handler has returned without finishing it: back to its place in
-- the ready queue, the attempt not counted. Fenced like complete. A job whose cancellation was requested ends
-- cancelled instead.
--! keys: jobs leases ready signal payloads cancelled cancels expiry stats webhooks events http
-- K.jobs   K.leases   K.ready (zset)   K.signal   K.payloads   K.cancelled (zset)
-- K.cancels (zset)   K.expiry (zset)   K.stats   K.webhooks (zset id -> due ms)
-- K.events (channel)   K.http the HTTP workers' ready queue (zset)
-- ARGV[1] id   ARGV[2] lease token   ARGV[3] priority aging (ms per level)   ARGV[4] TTL of a cancelled record (ms)
-- Returns (the names of QueueOutcome, see WorkCluster.Queue/QueueOutcome.cs) 'released' (the job went back), 'cancelled', or 'stale'.
--#include clock.lua
--#include signal.lua
--#include events.lua
--#include jobs.lua
--#include ready.lua

local id = ARGV[1]
local raw = redis.call('HGET', K.jobs, id)
local job = raw and cjson.decode(raw)
if not holds_lease(job, ARGV[2]) then
  return 'stale'
end
if job.cancel_requested_at then
  end_cancelled(K, id, job, now_ms(), tonumber(ARGV[4]))
  return 'cancelled'
end
local worker = job.worker
job.status = 'pending'
job.attempts = math.max((job.attempts or 1) - 1, 0)
job.worker = nil
job.started_at = nil
job.lease = nil
job.progress = nil
redis.call('HSET', K.jobs, id, cjson.encode(job))
redis.call('ZREM', K.leases, id)
make_ready_again(ready_of(K.ready, K.http, job), id, job, tonumber(ARGV[3]))
pass_signal(K.ready, K.signal)
announce(K.events, 'released', id, job, now_ms(), { worker = worker })
return 'released'
