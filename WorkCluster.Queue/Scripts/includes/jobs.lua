-- Helpers over a queue's keys, given as a table K (jobs, payloads, results, failed, expiry, idempotency, stats; and
-- cancelled, cancels, leases, webhooks, events where a helper says so). Needs events.lua. The stats hash keeps the
-- budgets' byte counters: unfinished_bytes, failed_bytes (payloads) and result_bytes (results of worked jobs).

-- Adds delta to a byte counter in the stats hash (never below zero): the budgets are kept, not computed.
local function count_bytes(K, field, delta)
  if delta ~= 0 and redis.call('HINCRBY', K.stats, field, delta) < 0 then
    redis.call('HSET', K.stats, field, 0)
  end
end

-- Deletes job `id` with everything that refers to it: record, payload, result, expiry, dead-letter entry, and its
-- Idempotency-Key if the key still names this job (a newer job may have taken it over).
local function forget_job(K, id)
  local raw = redis.call('HGET', K.jobs, id)
  if raw then
    local job = cjson.decode(raw)
    if job.idempotency_key then
      local entry = redis.call('HGET', K.idempotency, job.idempotency_key)
      if entry and string.sub(entry, 1, #id + 1) == id .. ' ' then
        redis.call('HDEL', K.idempotency, job.idempotency_key)
      end
    end
  end
  if redis.call('ZREM', K.failed, id) == 1 then
    count_bytes(K, 'failed_bytes', -redis.call('HSTRLEN', K.payloads, id))
  end
  redis.call('ZREM', K.cancelled, id)
  count_bytes(K, 'result_bytes', -redis.call('HSTRLEN', K.results, id))
  redis.call('HDEL', K.jobs, id)
  redis.call('HDEL', K.payloads, id)
  redis.call('HDEL', K.results, id)
  redis.call('ZREM', K.expiry, id)
end

-- Keeps the results of worked jobs within max_bytes in all (the stats' result_bytes): past it, the jobs whose TTL ends
-- first (among the first 100 to expire; never `keep`) go early, each with everything that refers to it, counted as
-- results_dropped. Results count against no other budget, and complete.lua runs past maxmemory: without this bound a
-- store full of results would refuse every new job, and would run out of memory.
local function bound_results(K, max_bytes, keep)
  while (tonumber(redis.call('HGET', K.stats, 'result_bytes')) or 0) > max_bytes do
    local dropped = false
    for _, id in ipairs(redis.call('ZRANGE', K.expiry, 0, 99)) do
      if id ~= keep and redis.call('HSTRLEN', K.results, id) > 0 then
        forget_job(K, id)
        redis.call('HINCRBY', K.stats, 'results_dropped', 1)
        dropped = true
        break
      end
    end
    if not dropped then
      break
    end
  end
end

-- Job `id` has reached its end (worked, failed for good, cancelled): a job with a callback URL gets a webhook
-- delivery, due now (a new one each time it ends: a failed job retried from the dead letter may end again). Called
-- before the record is written. K: webhooks.
local function on_end(K, id, job, now)
  if job.callback_url then
    job.webhook = { status = 'pending', attempts = 0 }
    redis.call('ZADD', K.webhooks, now, id)
  end
end

-- Marks `job` failed for good and files it in the dead letter, keeping its payload for a retry. The dead letter
-- holds at most max_count jobs and max_bytes of payloads: the oldest entries go (counted as dropped). K: also
-- webhooks, events.
local function dead_letter(K, id, job, now, ttl, max_count, max_bytes)
  job.status = 'failed'
  job.finished_at = now
  job.retry_at = nil
  job.lease = nil
  job.progress = nil
  on_end(K, id, job, now)
  redis.call('HSET', K.jobs, id, cjson.encode(job))
  announce(K.events, 'failed', id, job, now, { error = job.last_error })
  local size = redis.call('HSTRLEN', K.payloads, id)
  count_bytes(K, 'unfinished_bytes', -size)
  redis.call('ZADD', K.failed, now, id)
  count_bytes(K, 'failed_bytes', size)
  redis.call('ZADD', K.expiry, now + ttl, id)
  redis.call('HINCRBY', K.stats, 'failed', 1)
  while redis.call('ZCARD', K.failed) > max_count or (tonumber(redis.call('HGET', K.stats, 'failed_bytes')) or 0) > max_bytes do
    -- The oldest entry other than the job just filed (whose own size is within the budget, checked at start-up).
    local two = redis.call('ZRANGE', K.failed, 0, 1)
    local oldest = two[1] == id and two[2] or two[1]
    if not oldest then
      break
    end
    forget_job(K, oldest)
    redis.call('HINCRBY', K.stats, 'dead_letter_dropped', 1)
  end
end

-- True if `job` (a decoded record; nil or false when there is none) is in the attempt that `token` names: working,
-- under that lease. Every outcome is fenced by it.
local function holds_lease(job, token)
  return job and job.status == 'working' and job.lease == token or false
end

-- Ends job `id` (decoded record `job`) as cancelled: its payload freed, its lease (if any) revoked so that any later
-- outcome of the attempt is stale, listed in the cancelled zset, its record kept for `ttl` ms like a result.
-- K: jobs, payloads, leases, cancelled, cancels, expiry, stats, webhooks, events. The caller takes it out of the ready queue or the
-- schedule if it waits there.
local function end_cancelled(K, id, job, now, ttl)
  job.status = 'cancelled'
  job.finished_at = now
  job.retry_at = nil
  job.lease = nil
  job.progress = nil
  on_end(K, id, job, now)
  redis.call('HSET', K.jobs, id, cjson.encode(job))
  announce(K.events, 'cancelled', id, job, now)
  count_bytes(K, 'unfinished_bytes', -redis.call('HSTRLEN', K.payloads, id))
  redis.call('HDEL', K.payloads, id)
  redis.call('ZREM', K.leases, id)
  redis.call('ZREM', K.cancels, id)
  redis.call('ZADD', K.cancelled, now, id)
  redis.call('ZADD', K.expiry, now + ttl, id)
  redis.call('HINCRBY', K.stats, 'cancelled', 1)
end
