#!lua flags=allow-oom
-- cancel: take a job back from the cluster. Waiting (pending, scheduled, or waiting for a retry): cancelled at once,
-- out of the ready queue and the schedule, so it never starts. Being worked: the cancellation is requested (the
-- worker holding the lease is told; its handler's token fires, and the attempt's outcome ends the job as cancelled),
-- and noted in the cancels zset so that the sweep revokes the lease after the grace if the handler does not stop.
-- Runs under maxmemory (allow-oom): it frees memory.
--! keys: jobs payloads ready scheduled leases cancelled cancels expiry stats webhooks events http
-- K.jobs   K.payloads   K.ready (zset)   K.scheduled (zset)   K.leases (zset)
-- K.cancelled (zset id -> cancelled ms)   K.cancels (zset id -> revoke at ms)   K.expiry (zset)
-- K.stats   K.webhooks (zset id -> due ms)   K.events (channel)
-- K.http the HTTP workers' ready queue (zset)
-- ARGV[1] id   ARGV[2] TTL of a cancelled record (ms)   ARGV[3] grace before the lease is revoked (ms)
-- Returns { outcome, worker, lease token } (the names of QueueOutcome, see WorkCluster.Queue/QueueOutcome.cs) with outcome 'cancelled' (done at
-- once), 'cancelling' (requested from the worker, which is named with its lease), or 'already_finished' with the status
-- of a job already finished (worked, failed, cancelled); { 'not_found' } if there is no such job.
--#include clock.lua
--#include ready.lua
--#include records.lua
--#include events.lua
--#include jobs.lua

local id = ARGV[1]
local now = now_ms()
local raw = live_record(K.jobs, K.expiry, id, now)
if not raw then
  return { 'not_found' }
end
local job = cjson.decode(raw)

if job.status == 'pending' or job.status == 'scheduled' then
  redis.call('ZREM', ready_of(K.ready, K.http, job), id)
  redis.call('ZREM', K.scheduled, id)
  end_cancelled(K, id, job, now, tonumber(ARGV[2]))
  return { 'cancelled' }
end
if job.status == 'working' then
  if not job.cancel_requested_at then
    job.cancel_requested_at = now
    redis.call('HSET', K.jobs, id, cjson.encode(job))
    redis.call('ZADD', K.cancels, now + tonumber(ARGV[3]), id)
    announce(K.events, 'cancelling', id, job, now)
  end
  return { 'cancelling', job.worker or '', job.lease or '' }
end
return { 'already_finished', job.status }
