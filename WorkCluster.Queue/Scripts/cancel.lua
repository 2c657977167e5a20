#!lua flags=allow-oom
-- cancel: take a job back from the cluster. Waiting (pending, scheduled, or waiting for a retry): cancelled at once,
-- out of the ready queue and the schedule, so it never starts. Being worked: the cancellation is requested (the
-- worker holding the lease is told; its handler's token fires, and the attempt's outcome ends the job as cancelled),
-- and noted in the cancels zset so that the sweep revokes the lease after the grace if the handler does not stop.
-- Runs under maxmemory (allow-oom): it frees memory.
-- KEYS[1] jobs   KEYS[2] payloads   KEYS[3] ready (zset)   KEYS[4] scheduled (zset)   KEYS[5] leases (zset)
-- KEYS[6] cancelled (zset id -> cancelled ms)   KEYS[7] cancels (zset id -> revoke at ms)   KEYS[8] expiry (zset)
-- KEYS[9] stats   KEYS[10] webhooks (zset id -> due ms)   KEYS[11] events (channel)
-- KEYS[12] the HTTP workers' ready queue (zset)
-- ARGV[1] id   ARGV[2] TTL of a cancelled record (ms)   ARGV[3] grace before the lease is revoked (ms)
-- Returns { outcome, worker, lease token } with outcome 'cancelled' (done at once), 'cancelling' (requested from the
-- worker, which is named with its lease), or 'finished' with the status of a job already finished (worked, failed,
-- cancelled); nil if there is no such job.
--#include clock.lua
--#include ready.lua
--#include records.lua
--#include events.lua
--#include jobs.lua

local id = ARGV[1]
local now = now_ms()
local raw = live_record(KEYS[1], KEYS[8], id, now)
if not raw then
  return nil
end
local job = cjson.decode(raw)
local K = { jobs = KEYS[1], payloads = KEYS[2], leases = KEYS[5], cancelled = KEYS[6], cancels = KEYS[7],
  expiry = KEYS[8], stats = KEYS[9], webhooks = KEYS[10], events = KEYS[11] }

if job.status == 'pending' or job.status == 'scheduled' then
  redis.call('ZREM', ready_of(KEYS[3], KEYS[12], job), id)
  redis.call('ZREM', KEYS[4], id)
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
return { 'finished', job.status }
