-- recover: a worker's liveness key has expired. Put the jobs on its processing list back at the head of the
-- queue, or, for a job that has used up its attempts, mark it failed. Does nothing while the key exists, so a
-- live worker never loses a job, however long it runs; two sweepers cannot both move a job, since the first
-- empties the list.
-- KEYS[1] liveness key of the worker   KEYS[2] its processing list   KEYS[3] queue   KEYS[4] jobs
-- KEYS[5] signal   KEYS[6] failed (zset)   KEYS[7] expiry (zset)   KEYS[8] stats (hash of totals)
-- ARGV[1] worker id   ARGV[2] max attempts   ARGV[3] TTL of a failed record (ms)
-- Returns { requeued, failed }, or { -1, -1 } if the worker is alive.
--#include clock.lua
--#include signal.lua

if redis.call('EXISTS', KEYS[1]) == 1 then
  return { -1, -1 }
end

local now = now_ms()
local requeued, failed = 0, 0
-- Newest claim first: pushing each onto the head leaves the oldest claim next in line.
for _, id in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
  local raw = redis.call('HGET', KEYS[4], id)
  local job = raw and cjson.decode(raw)
  if job and job.status == 'working' and job.worker == ARGV[1] then
    job.last_error = 'worker ' .. ARGV[1] .. ' stopped during attempt ' .. (job.attempts or 0)
    if (job.attempts or 0) >= tonumber(ARGV[2]) then
      job.status = 'failed'
      job.finished_at = now
      redis.call('ZADD', KEYS[6], now, id)
      redis.call('ZADD', KEYS[7], now + tonumber(ARGV[3]), id)
      failed = failed + 1
    else
      job.status = 'pending'
      job.worker = nil
      job.started_at = nil
      redis.call('RPUSH', KEYS[3], id)
      requeued = requeued + 1
    end
    redis.call('HSET', KEYS[4], id, cjson.encode(job))
  end
end
redis.call('DEL', KEYS[2])
if failed > 0 then
  redis.call('HINCRBY', KEYS[8], 'failed', failed)
end
pass_signal(KEYS[3], KEYS[5])
return { requeued, failed }
