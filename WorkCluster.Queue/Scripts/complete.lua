#!lua flags=allow-oom
-- complete: the attempt under lease `token` succeeded: store the result, mark the job worked, end its lease, free
-- its payload, start its TTL. Fenced: an attempt that no longer holds the job's lease changes nothing. A job whose
-- cancellation was requested ends cancelled instead (its result is not kept).
-- KEYS[1] jobs   KEYS[2] payloads   KEYS[3] results   KEYS[4] leases   KEYS[5] expiry (zset)   KEYS[6] stats
-- KEYS[7] cancelled (zset)   KEYS[8] cancels (zset)   KEYS[9] webhooks (zset id -> due ms)   KEYS[10] events (channel)
-- ARGV[1] id   ARGV[2] lease token   ARGV[3] result (JSON text)   ARGV[4] result TTL (ms)
-- Returns 1 if the result was stored, 2 if the job ended cancelled, 0 if the attempt is stale (its lease lapsed and
-- the job was taken back or finished by another attempt, or was cancelled, or the job no longer exists).
--#include clock.lua
--#include events.lua
--#include jobs.lua

local id = ARGV[1]
local K = { jobs = KEYS[1], payloads = KEYS[2], leases = KEYS[4], expiry = KEYS[5], stats = KEYS[6], cancelled = KEYS[7],
  cancels = KEYS[8], webhooks = KEYS[9], events = KEYS[10] }
local raw = redis.call('HGET', K.jobs, id)
local job = raw and cjson.decode(raw)
if not holds_lease(job, ARGV[2]) then
  return 0
end

local now = now_ms()
if job.cancel_requested_at then
  end_cancelled(K, id, job, now, tonumber(ARGV[4]))
  return 2
end
job.status = 'worked'
job.finished_at = now
job.lease = nil
job.progress = nil
on_end(K, id, job, now)
-- The result first: were it refused, the job would still be working under this lease, with nothing half written.
redis.call('HSET', KEYS[3], id, ARGV[3])
redis.call('HSET', K.jobs, id, cjson.encode(job))
announce(K.events, 'worked', id, job, now)
count_bytes(K, 'unfinished_bytes', -redis.call('HSTRLEN', K.payloads, id))
redis.call('HDEL', K.payloads, id)
redis.call('ZREM', KEYS[4], id)
redis.call('ZADD', KEYS[5], now + tonumber(ARGV[4]), id)
redis.call('HINCRBY', K.stats, 'worked', 1)
return 1
