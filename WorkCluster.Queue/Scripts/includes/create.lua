-- New jobs, from a submission (enqueue.lua) or a schedule's occurrence (fire.lua).
-- K: jobs, payloads, ready, http (the HTTP workers' ready queue), signal, scheduled, leases, stats, sequence. Needs
-- ready.lua and signal.lua.

-- Why the queue's budget refuses a new job with `bytes` of data: 4 (too many unfinished jobs: ready, scheduled, or
-- leased to a worker) or 6 (too many unfinished payload bytes); nil if there is room.
local function refusal(K, bytes, max_jobs, max_bytes)
  local unfinished = redis.call('ZCARD', K.ready) + redis.call('ZCARD', K.http) + redis.call('ZCARD', K.scheduled)
    + redis.call('ZCARD', K.leases)
  if unfinished >= max_jobs then
    return 4
  end
  if (tonumber(redis.call('HGET', K.stats, 'unfinished_bytes')) or 0) + bytes > max_bytes then
    return 6
  end
  return nil
end

-- Stores job `id` (record fields in `job`: type, accepted_by, priority unless 5, ...) with `data` (JSON text), and
-- queues it: ready now, ranked by its priority, or scheduled until `due` (ms) if that is later than `now`.
-- Redis checks memory at a script's first write only (the rank's sequence, or else the record): over maxmemory it
-- refuses that one, and nothing is written.
local function create_job(K, id, job, data, due, now, aging)
  job.created_at = now
  job.attempts = 0
  local scheduled = due and due > now
  local rank = nil
  if scheduled then
    job.status = 'scheduled'
    job.run_at = due
  else
    job.status = 'pending'
    rank = rank_of(now, job.priority or 5, aging, K.sequence)
  end
  redis.call('HSET', K.jobs, id, cjson.encode(job))
  redis.call('HSET', K.payloads, id, data)
  redis.call('HINCRBY', K.stats, 'unfinished_bytes', #data)
  if scheduled then
    redis.call('ZADD', K.scheduled, due, id)
    if redis.call('ZRANGE', K.scheduled, 0, 0)[1] == id then
      wake_one(K.signal) -- the next job to fall due: idle workers must look again when they wait for it
    end
  elseif job.lane == 'http' then
    redis.call('ZADD', K.http, rank, id) -- HTTP workers waiting for it are woken by its 'accepted' event
  else
    redis.call('ZADD', K.ready, rank, id)
    pass_signal(K.ready, K.signal)
  end
end
