-- Starts an attempt of job `id` (decoded record `job`) on `worker` under lease `token`: the record marked working
-- (attempts + 1, no retry time, no progress yet), the lease's deadline in the leases zset. Returns the record as
-- stored (JSON). Used by claim.lua (.NET workers) and lease.lua (HTTP workers).
local function start_attempt(jobs, leases, id, job, worker, token, now, deadline)
  job.status = 'working'
  job.worker = worker
  job.started_at = now
  job.attempts = (job.attempts or 0) + 1
  job.retry_at = nil
  job.lease = token
  job.progress = nil
  local raw = cjson.encode(job)
  redis.call('HSET', jobs, id, raw)
  redis.call('ZADD', leases, deadline, id)
  return raw
end
