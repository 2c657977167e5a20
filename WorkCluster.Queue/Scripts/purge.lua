#!lua flags=allow-oom
-- purge: delete finished jobs whose TTL has passed (at most N per call), with everything that refers to them.
-- Runs under maxmemory (allow-oom): it frees memory.
-- KEYS[1] expiry (zset)   KEYS[2] jobs   KEYS[3] payloads   KEYS[4] results   KEYS[5] failed (zset)
-- KEYS[6] idempotency (hash)   KEYS[7] stats   KEYS[8] cancelled (zset)
-- ARGV[1] N
-- Returns the number of jobs deleted.
--#include clock.lua
--#include jobs.lua

local K = { jobs = KEYS[2], payloads = KEYS[3], results = KEYS[4], failed = KEYS[5], expiry = KEYS[1],
  idempotency = KEYS[6], stats = KEYS[7], cancelled = KEYS[8] }
local ids = redis.call('ZRANGEBYSCORE', K.expiry, '-inf', now_ms(), 'LIMIT', 0, tonumber(ARGV[1]))
for _, id in ipairs(ids) do
  forget_job(K, id)
end
return #ids
