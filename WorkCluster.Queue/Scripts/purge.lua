#!lua flags=allow-oom
-- purge: delete finished jobs whose TTL has passed (at most N per call), with everything that refers to them.
-- Runs under maxmemory (allow-oom): it frees memory.
--! keys: expiry jobs payloads results failed idempotency stats cancelled
-- K.expiry (zset)   K.jobs   K.payloads   K.results   K.failed (zset)
-- K.idempotency (hash)   K.stats   K.cancelled (zset)
-- ARGV[1] N   ARGV[2] how long a job whose webhook is still being delivered is kept past its TTL each time (ms)
-- ARGV[3] the longest such a job is kept after it finished (ms): a delivery nobody makes (no worker has the webhook
-- secret) must not keep its job for ever
-- Returns the number of jobs deleted.
--#include clock.lua
--#include events.lua
--#include jobs.lua

local now = now_ms()
local deleted = 0
local ids = redis.call('ZRANGEBYSCORE', K.expiry, '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
if #ids == 0 then
  return 0
end
local records = redis.call('HMGET', K.jobs, unpack(ids))
-- The common case, a job that was worked or cancelled with no webhook and no Idempotency-Key: nothing refers to it
-- but the keys below, so all of them go with one command per key and without decoding their records.
local plain = {}
for n, id in ipairs(ids) do
  local raw = records[n]
  if raw and not string.find(raw, '"webhook"', 1, true) and not string.find(raw, '"idempotency_key"', 1, true)
    and (string.find(raw, '"status":"worked"', 1, true) or string.find(raw, '"status":"cancelled"', 1, true)) then
    plain[#plain + 1] = id
  else
    local job = raw and cjson.decode(raw)
    if job and job.webhook and job.webhook.status == 'pending' and now - (job.finished_at or now) < tonumber(ARGV[3]) then
      -- Its webhook tells how the job ended, and needs the record: kept until the delivery has ended.
      redis.call('ZADD', K.expiry, now + tonumber(ARGV[2]), id)
    else
      forget_job(K, id)
      deleted = deleted + 1
    end
  end
end
if #plain > 0 then
  local freed = 0
  for _, id in ipairs(plain) do
    freed = freed + redis.call('HSTRLEN', K.results, id)
  end
  count_bytes(K, 'result_bytes', -freed)
  redis.call('HDEL', K.jobs, unpack(plain))
  redis.call('HDEL', K.payloads, unpack(plain))
  redis.call('HDEL', K.results, unpack(plain))
  redis.call('ZREM', K.cancelled, unpack(plain))
  redis.call('ZREM', K.expiry, unpack(plain))
  deleted = deleted + #plain
end
return deleted
