#!lua flags=allow-oom
-- sweep: take back the jobs whose lease has lapsed (their attempt stalled: the worker died, froze, lost its claim's
-- reply, or was cut off from Redis): back to their place in the ready queue, or, once their attempts are used up, to
-- the dead letter. Safe on every worker at once: a lease is taken back once. A job whose cancellation was requested
-- ends cancelled instead; so does one whose handler has not stopped within the grace after the request (its lease
-- revoked: the attempt's outcome is stale).
-- Redis's clock keeps running while nobody can reach Redis, so leases lapse during an outage although their workers
-- live on. The sweep therefore notes when it last ran and on which run of the store: after a gap (no sweep for ARGV[1]
-- ms: Redis, or every worker, was away) or a store restart (its run id, ARGV[10], is not the one the last sweep saw: a
-- store that came back quickly from a crash replays a recent 'last', yet its clients were cut off) it takes nothing
-- back for ARGV[2] ms, time for the living workers to reconnect and renew.
--! keys: leases jobs payloads results ready signal failed expiry idempotency stats sweep_clock cancelled cancels webhooks events http
-- K.leases (zset id -> deadline ms)   K.jobs   K.payloads   K.results   K.ready (zset)
-- K.signal   K.failed (zset)   K.expiry (zset)   K.idempotency   K.stats
-- K.sweep_clock sweep clock (hash: last, since, swept_run)   K.cancelled (zset)   K.cancels (zset id -> revoke at ms)
-- K.webhooks (zset id -> due ms)   K.events (channel)   K.http the HTTP workers' ready queue (zset)
-- ARGV[1] gap (ms)   ARGV[2] grace after a gap (ms)   ARGV[3] max attempts   ARGV[4] TTL of a failed record (ms)
-- ARGV[5] most jobs in the dead letter   ARGV[6] most payload bytes in it   ARGV[7] at most this many leases per call
-- ARGV[8] priority aging (ms per level)   ARGV[9] TTL of a cancelled record (ms)   ARGV[10] the store's run id
-- Returns { requeued, dead-lettered, ms still held back (0 once sweeping), cancelled }.
--#include clock.lua
--#include signal.lua
--#include events.lua
--#include jobs.lua
--#include ready.lua

local now = now_ms()
local last = tonumber(redis.call('HGET', K.sweep_clock, 'last'))
local since = tonumber(redis.call('HGET', K.sweep_clock, 'since'))
local restarted = redis.call('HGET', K.sweep_clock, 'swept_run') ~= ARGV[10]
if not last or not since or now - last > tonumber(ARGV[1]) or restarted then
  since = now
  redis.call('HSET', K.sweep_clock, 'since', since, 'swept_run', ARGV[10])
end
redis.call('HSET', K.sweep_clock, 'last', now)
local hold = since + tonumber(ARGV[2]) - now
if hold > 0 then
  return { 0, 0, hold, 0 }
end

local requeued, dead, cancelled = 0, 0, 0
local cancel_ttl = tonumber(ARGV[9])
for _, id in ipairs(redis.call('ZRANGEBYSCORE', K.leases, '-inf', now, 'LIMIT', 0, tonumber(ARGV[7]))) do
  redis.call('ZREM', K.leases, id)
  local raw = redis.call('HGET', K.jobs, id)
  local job = raw and cjson.decode(raw)
  if job and job.status == 'working' and job.cancel_requested_at then
    end_cancelled(K, id, job, now, cancel_ttl)
    cancelled = cancelled + 1
  elseif job and job.status == 'working' then
    if job.overdue_at then
      job.last_error = string.format('abandoned: attempt %d on worker %s ran past its timeout and grace (Work:Timeout, ' ..
        'Work:TimeoutGrace) without stopping; its lease was not renewed', job.attempts or 0, job.worker or '?')
      job.overdue_at = nil
    else
      job.last_error = string.format('stalled: the lease of attempt %d on worker %s lapsed', job.attempts or 0, job.worker or '?')
    end
    if (job.attempts or 0) >= tonumber(ARGV[3]) then
      dead_letter(K, id, job, now, tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]))
      dead = dead + 1
    else
      local worker = job.worker
      job.status = 'pending'
      job.worker = nil
      job.started_at = nil
      job.lease = nil
      job.progress = nil
      redis.call('HSET', K.jobs, id, cjson.encode(job))
      make_ready_again(ready_of(K.ready, K.http, job), id, job, tonumber(ARGV[8]))
      announce(K.events, 'retried', id, job, now, { worker = worker, error = job.last_error })
      requeued = requeued + 1
    end
  end
end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', K.cancels, '-inf', now, 'LIMIT', 0, tonumber(ARGV[7]))) do
  redis.call('ZREM', K.cancels, id)
  local raw = redis.call('HGET', K.jobs, id)
  local job = raw and cjson.decode(raw)
  if job and job.status == 'working' and job.cancel_requested_at then
    end_cancelled(K, id, job, now, cancel_ttl)
    cancelled = cancelled + 1
  end
end
if requeued + dead > 0 then
  redis.call('HINCRBY', K.stats, 'recovered', requeued + dead)
  pass_signal(K.ready, K.signal)
end
return { requeued, dead, 0, cancelled }
