#!lua flags=allow-oom
-- retry: send failed jobs (dead letter) back to the ready queue with their attempts reset, as if submitted now, as far
-- as the queue's budget allows.
-- KEYS[1] jobs   KEYS[2] payloads   KEYS[3] failed (zset)   KEYS[4] expiry (zset)   KEYS[5] ready (zset)   KEYS[6] signal
-- KEYS[7] scheduled (zset)   KEYS[8] leases (zset)   KEYS[9] stats   KEYS[10] sequence   KEYS[11] events (channel)
-- KEYS[12] webhooks (zset)   KEYS[13] the HTTP workers' ready queue (zset)
-- ARGV[1] most unfinished jobs   ARGV[2] most unfinished payload bytes   ARGV[3] priority aging (ms per level), then
-- the ids
-- Returns, for each id: 'queued'; 'full' if the budget has no room for it; the job's status if it is not failed;
-- or false if there is no such job.
--#include clock.lua
--#include signal.lua
--#include records.lua
--#include events.lua
--#include jobs.lua
--#include ready.lua
--#include create.lua

local K = { ready = KEYS[5], scheduled = KEYS[7], leases = KEYS[8], stats = KEYS[9], http = KEYS[13] }
local now = now_ms()
local outcomes = {}
for i = 4, #ARGV do
  local id = ARGV[i]
  local raw = live_record(KEYS[1], KEYS[4], id, now)
  if not raw then
    outcomes[i - 3] = false
  else
    local job = cjson.decode(raw)
    local size = redis.call('HSTRLEN', KEYS[2], id)
    if job.status ~= 'failed' then
      outcomes[i - 3] = job.status
    elseif refusal(K, size, tonumber(ARGV[1]), tonumber(ARGV[2])) then
      outcomes[i - 3] = 'full'
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
        redis.call('ZREM', KEYS[12], id)
      end
      job.ready_at = now
      make_ready(ready_of(KEYS[5], KEYS[13], job), id, rank_of(now, job.priority or 5, tonumber(ARGV[3]), KEYS[10]))
      redis.call('HSET', KEYS[1], id, cjson.encode(job))
      redis.call('ZREM', KEYS[3], id)
      count_bytes(K, 'failed_bytes', -size)
      count_bytes(K, 'unfinished_bytes', size)
      redis.call('ZREM', KEYS[4], id)
      outcomes[i - 3] = 'queued'
      announce(KEYS[11], 'requeued', id, job, now)
    end
  end
end
pass_signal(KEYS[5], KEYS[6])
return outcomes
