#!lua flags=allow-oom
-- retry: send failed jobs (dead letter) back to the ready queue with their attempts reset, as if submitted now, as far
-- as the queue's budget allows.
--! keys: jobs payloads failed expiry ready signal scheduled leases stats sequence events webhooks http
-- K.jobs   K.payloads   K.failed (zset)   K.expiry (zset)   K.ready (zset)   K.signal
-- K.scheduled (zset)   K.leases (zset)   K.stats   K.sequence   K.events (channel)
-- K.webhooks (zset)   K.http the HTTP workers' ready queue (zset)
-- ARGV[1] most unfinished jobs   ARGV[2] most unfinished payload bytes   ARGV[3] priority aging (ms per level), then
-- the ids
-- Returns, for each id (the names of QueueOutcome, see WorkCluster.Queue/QueueOutcome.cs): 'queued'; 'queue_full' if the budget has no room for
-- it; 'not_failed' if the job is not failed; 'not_found' if there is no such job.
--#include clock.lua
--#include signal.lua
--#include records.lua
--#include events.lua
--#include jobs.lua
--#include ready.lua
--#include create.lua

local now = now_ms()
local outcomes = {}
for i = 4, #ARGV do
  local id = ARGV[i]
  local raw = live_record(K.jobs, K.expiry, id, now)
  if not raw then
    outcomes[i - 3] = 'not_found'
  else
    local job = cjson.decode(raw)
    local size = redis.call('HSTRLEN', K.payloads, id)
    if job.status ~= 'failed' then
      outcomes[i - 3] = 'not_failed'
    elseif refusal(K, size, tonumber(ARGV[1]), tonumber(ARGV[2])) then
      outcomes[i - 3] = 'queue_full'
    else
      job.status = 'pending'
      job.attempts = 0
      job.worker = nil
      job.started_at = nil
      job.finished_at = nil
      job.progress = nil
      if job.webhook then
        -- The delivery of how it ended is moot now: it ends again, and gets a delivery then.
        job.webhook = nil
        redis.call('ZREM', K.webhooks, id)
      end
      job.ready_at = now
      make_ready(ready_of(K.ready, K.http, job), id, rank_of(now, job.priority or 5, tonumber(ARGV[3]), K.sequence))
      redis.call('HSET', K.jobs, id, cjson.encode(job))
      redis.call('ZREM', K.failed, id)
      count_bytes(K, 'failed_bytes', -size)
      count_bytes(K, 'unfinished_bytes', size)
      redis.call('ZREM', K.expiry, id)
      outcomes[i - 3] = 'queued'
      announce(K.events, 'requeued', id, job, now)
    end
  end
end
pass_signal(K.ready, K.signal)
return outcomes
