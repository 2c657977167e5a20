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

-- The writes of new ready jobs, collected by create_job and made together by flush_jobs: one command per key for a
-- whole batch of submissions. `reserve`: the sequence numbers to take at once (the submissions in the batch).
local function new_batch(reserve)
  return { n = 0, jobs = {}, payloads = {}, ready = {}, http = {}, bytes = 0, reserve = reserve }
end

-- Stores job `id` (record fields in `job`: type, accepted_by, priority unless 5, ...) with `data` (JSON text), and
-- queues it: ready now, ranked by its priority, or scheduled until `due` (ms) if that is later than `now`. With a
-- `batch` (new_batch), a ready job takes its rank's number from the batch's and, unless `immediate`, its writes are
-- collected there and made by flush_jobs; without, at once.
-- Redis checks memory at a script's first write only (the rank's sequence, or else the record): over maxmemory it
-- refuses that one, and nothing is written.
local function create_job(K, id, job, data, due, now, aging, batch, immediate)
  job.created_at = now
  job.attempts = 0
  local scheduled = due and due > now
  local rank = nil
  if scheduled then
    job.status = 'scheduled'
    job.run_at = due
  elseif batch then
    job.status = 'pending'
    if not batch.sequence then
      batch.sequence = redis.call('INCRBY', K.sequence, batch.reserve) - batch.reserve
    end
    batch.sequence = batch.sequence + 1
    rank = rank_at(now, job.priority or 5, aging, batch.sequence)
  else
    job.status = 'pending'
    rank = rank_of(now, job.priority or 5, aging, K.sequence)
  end
  if batch and not scheduled and not immediate then
    local n = #batch.jobs
    batch.jobs[n + 1] = id
    batch.jobs[n + 2] = cjson.encode(job)
    batch.payloads[n + 1] = id
    batch.payloads[n + 2] = data
    batch.bytes = batch.bytes + #data
    local lane = job.lane == 'http' and batch.http or batch.ready
    lane[#lane + 1] = rank
    lane[#lane + 1] = id
    batch.n = batch.n + 1
    return
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

-- Makes the writes create_job collected in `batch`, and empties it (its reserved sequence numbers stay with it).
local function flush_jobs(K, batch)
  if batch.n == 0 then
    return
  end
  redis.call('HSET', K.jobs, unpack(batch.jobs))
  redis.call('HSET', K.payloads, unpack(batch.payloads))
  redis.call('HINCRBY', K.stats, 'unfinished_bytes', batch.bytes)
  if #batch.http > 0 then
    redis.call('ZADD', K.http, unpack(batch.http)) -- HTTP workers waiting for them are woken by their 'accepted' events
  end
  if #batch.ready > 0 then
    redis.call('ZADD', K.ready, unpack(batch.ready))
    pass_signal(K.ready, K.signal)
  end
  batch.n, batch.jobs, batch.payloads, batch.ready, batch.http, batch.bytes = 0, {}, {}, {}, {}, 0
end
