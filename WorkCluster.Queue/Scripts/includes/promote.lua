-- Moves up to `most` jobs whose time has come from the schedule (delayed jobs, retries waiting for their backoff) to
-- the ready queue (its lane's: see ready_of), each ranked as if it had been submitted when it fell due. K: scheduled,
-- ready, http, jobs, sequence, events. Returns the number moved. Needs events.lua and ready.lua.
local function promote_due(K, now, most, aging)
  local due = redis.call('ZRANGEBYSCORE', K.scheduled, '-inf', now, 'WITHSCORES', 'LIMIT', 0, most)
  local ready = listened(K.events) and {} or nil -- events are built only while anybody listens
  for i = 1, #due, 2 do
    local id, at = due[i], tonumber(due[i + 1])
    redis.call('ZREM', K.scheduled, id)
    local raw = redis.call('HGET', K.jobs, id)
    local job = raw and cjson.decode(raw)
    if job and (job.status == 'scheduled' or job.status == 'pending') then
      job.status = 'pending'
      if job.retry_at then
        job.ready_at = at -- a retry competes from when it fell due, also if it is taken back later
      end
      make_ready(ready_of(K.ready, K.http, job), id, rank_of(at, job.priority or 5, aging, K.sequence))
      redis.call('HSET', K.jobs, id, cjson.encode(job))
      if ready then
        ready[#ready + 1] = job_event('pending', id, job, now)
      end
    end
  end
  if ready and #ready > 0 then
    redis.call('PUBLISH', K.events, cjson.encode(ready))
  end
  return #due / 2
end

-- Milliseconds until the next scheduled job falls due, or -1 if none is scheduled.
local function next_due_in(scheduled, now)
  local first = redis.call('ZRANGE', scheduled, 0, 0, 'WITHSCORES')
  if #first == 0 then
    return -1
  end
  return math.max(0, tonumber(first[2]) - now)
end
