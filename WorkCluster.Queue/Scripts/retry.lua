-- retry: send failed jobs (dead letter) back to the tail of the queue with their attempts reset.
-- KEYS[1] jobs   KEYS[2] failed (zset)   KEYS[3] expiry (zset)   KEYS[4] queue   KEYS[5] signal
-- ARGV ids
-- Returns, for each id: 'queued', the job's status if it is not failed, or false if there is no such job.
--#include clock.lua
--#include signal.lua
--#include records.lua

local now = now_ms()
local outcomes = {}
for i, id in ipairs(ARGV) do
  local raw = live_record(KEYS[1], KEYS[3], id, now)
  if not raw then
    outcomes[i] = false
  else
    local job = cjson.decode(raw)
    if job.status ~= 'failed' then
      outcomes[i] = job.status
    else
      job.status = 'pending'
      job.attempts = 0
      job.worker = nil
      job.started_at = nil
      job.finished_at = nil
      redis.call('HSET', KEYS[1], id, cjson.encode(job))
      redis.call('ZREM', KEYS[2], id)
      redis.call('ZREM', KEYS[3], id)
      redis.call('LPUSH', KEYS[4], id)
      outcomes[i] = 'queued'
    end
  end
end
pass_signal(KEYS[4], KEYS[5])
return outcomes
