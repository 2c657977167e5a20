-- Events: what changed, published on WorkCluster's event channel (Redis pub/sub). Fire and forget: nobody has to
-- listen, and a listener that missed some (it was disconnected) reads the current state instead. A message is one
-- event (a JSON object with at least `type` and `at`, ms on Redis's clock) or a JSON array of events of one change.
-- Nothing is built or sent while nobody is subscribed: a listener subscribes before it reads any state, and Redis
-- runs a script and a SUBSCRIBE one after the other, so a change it could miss happened before its read.

-- Whether anybody is subscribed to `channel` now.
local function listened(channel)
  return redis.call('PUBSUB', 'NUMSUB', channel)[2] > 0
end

-- Publishes `event` (a table, or an array of them) if anybody listens.
local function publish_event(channel, event)
  if listened(channel) then
    redis.call('PUBLISH', channel, cjson.encode(event))
  end
end

-- An event about job `id` (decoded record `job`): its type, the job's id, its work type as `kind`, the time, the
-- attempt and the worker; `extra` adds fields.
local function job_event(type, id, job, now, extra)
  local event = { type = type, id = id, kind = job.type, at = now, attempt = job.attempts, worker = job.worker }
  if extra then
    for k, v in pairs(extra) do
      event[k] = v
    end
  end
  return event
end

-- Publishes an event about job `id` (see job_event) if anybody listens; builds it only then.
local function announce(channel, type, id, job, now, extra)
  if listened(channel) then
    redis.call('PUBLISH', channel, cjson.encode(job_event(type, id, job, now, extra)))
  end
end
