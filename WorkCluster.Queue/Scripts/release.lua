#!lua flags=allow-oom
-- release: a stopping worker hands back a job whose handler has returned without finishing it: back to its place in
-- the ready queue, the attempt not counted. Fenced like complete. A job whose cancellation was requested ends
-- cancelled instead.
-- KEYS[1] jobs   KEYS[2] leases   KEYS[3] ready (zset)   KEYS[4] signal   KEYS[5] payloads   KEYS[6] cancelled (zset)
-- KEYS[7] cancels (zset)   KEYS[8] expiry (zset)   KEYS[9] stats   KEYS[10] webhooks (zset id -> due ms)
-- KEYS[11] events (channel)   KEYS[12] the HTTP workers' ready queue (zset)
-- ARGV[1] id   ARGV[2] lease token   ARGV[3] priority aging (ms per level)   ARGV[4] TTL of a cancelled record (ms)
-- Returns 1 if the job went back, 2 if it ended cancelled, 0 if the attempt is stale.
--#include clock.lua
--#include signal.lua
--#include events.lua
--#include jobs.lua
--#include ready.lua

local id = ARGV[1]
local raw = redis.call('HGET', KEYS[1], id)
local job = raw and cjson.decode(raw)
if not holds_lease(job, ARGV[2]) then
  return 0
end
if job.cancel_requested_at then
  end_cancelled({ jobs = KEYS[1], payloads = KEYS[5], leases = KEYS[2], cancelled = KEYS[6], cancels = KEYS[7],
    expiry = KEYS[8], stats = KEYS[9], webhooks = KEYS[10], events = KEYS[11] }, id, job, now_ms(), tonumber(ARGV[4]))
  return 2
end
local worker = job.worker
job.status = 'pending'
job.attempts = math.max((job.attempts or 1) - 1, 0)
job.worker = nil
job.started_at = nil
job.lease = nil
job.progress = nil
redis.call('HSET', KEYS[1], id, cjson.encode(job))
redis.call('ZREM', KEYS[2], id)
make_ready_again(ready_of(KEYS[3], KEYS[12], job), id, job, tonumber(ARGV[3]))
pass_signal(KEYS[3], KEYS[4])
announce(KEYS[11], 'released', id, job, now_ms(), { worker = worker })
return 1
