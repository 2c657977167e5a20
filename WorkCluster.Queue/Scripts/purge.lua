#!lua flags=allow-oom
-- purge: delete finished jobs whose TTL has passed (at most N per call), with everything that refers to them.
-- Runs under maxmemory (allow-oom): it frees memory.
-- KEYS[1] expiry (zset)   KEYS[2] jobs   KEYS[3] payloads   KEYS[4] results   KEYS[5] failed (zset)
-- KEYS[6] idempotency (hash)   KEYS[7] stats   KEYS[8] cancelled (zset)
-- ARGV[1] N   ARGV[2] how long a job whose webhook is still being delivered is kept past its TTL each time (ms)
-- ARGV[3] the longest such a job is kept after it finished (ms): a delivery nobody makes (no worker has the webhook
-- secret) must not keep its job for ever
-- Returns the number of jobs deleted.
--#include clock.lua
--#include events.lua
--#include jobs.lua

local K = { jobs = KEYS[2], payloads = KEYS[3], results = KEYS[4], failed = KEYS[5], expiry = KEYS[1],
  idempotency = KEYS[6], stats = KEYS[7], cancelled = KEYS[8] }
local now = now_ms()
local deleted = 0
local ids = redis.call('ZRANGEBYSCORE', K.expiry, '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
for _, id in ipairs(ids) do
  local raw = redis.call('HGET', K.jobs, id)
  local job = raw and cjson.decode(raw)
  if job and job.webhook and job.webhook.status == 'pending' and now - (job.finished_at or now) < tonumber(ARGV[3]) then
    -- Its webhook tells how the job ended, and needs the record: kept until the delivery has ended.
    redis.call('ZADD', K.expiry, now + tonumber(ARGV[2]), id)
  else
    forget_job(K, id)
    deleted = deleted + 1
  end
end
return deleted
