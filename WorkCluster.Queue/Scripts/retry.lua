-- retry: send a failed job (dead letter) back to the tail of the queue with its attempts reset.
-- KEYS[1] jobs   KEYS[2] failed (zset)   KEYS[3] expiry (zset)   KEYS[4] queue   KEYS[5] signal
-- ARGV[1] id
-- Returns 'queued', the job's status if it is not failed, or nil if there is no such job.
--#include clock.lua
--#include signal.lua
--#include records.lua

local id = ARGV[1]
local raw = live_record(KEYS[1], KEYS[3], id, now_ms())
if not raw then
  return nil
end
local job = cjson.decode(raw)
if job.status ~= 'failed' then
  return job.status
end

job.status = 'pending'
job.attempts = 0
job.worker = nil
job.started_at = nil
job.finished_at = nil
redis.call('HSET', KEYS[1], id, cjson.encode(job))
redis.call('ZREM', KEYS[2], id)
redis.call('ZREM', KEYS[3], id)
redis.call('LPUSH', KEYS[4], id)
pass_signal(KEYS[4], KEYS[5])
return 'queued'
