-- Starts an attempt of job `id` (decoded record `job`) on `worker` under lease `token`: the record marked working
-- (attempts + 1, no retry time, no progress yet). Returns the record as it is to be stored (JSON); the caller stores it
-- and puts the lease's deadline in the leases zset (start_attempt does both for one job; claim.lua does them for its
-- whole batch in one command each).
local function begin_attempt(job, worker, token, now)
  job.status = 'working'
  job.worker = worker
  job.started_at = now
  job.attempts = (job.attempts or 0) + 1
  job.retry_at = nil
  job.lease = token
  job.progress = nil
  job.overdue_at = nil
  return cjson.encode(job)
end

-- begin_attempt, with the record stored and the lease's deadline in the leases zset. Returns the record as stored
-- (JSON). Used by lease.lua (HTTP workers).
local function start_attempt(jobs, leases, id, job, worker, token, now, deadline)
  local raw = begin_attempt(job, worker, token, now)
  redis.call('HSET', jobs, id, raw)
  redis.call('ZADD', leases, deadline, id)
  return raw
end
