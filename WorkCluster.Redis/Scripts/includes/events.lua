-- Events: what changed, published on WorkCluster's event channel (Redis pub/sub). Fire and forget: nobody has to
-- listen, and a listener that missed some (it was disconnected) reads the current state instead. A message is one
-- event (a JSON object with at least `type` and `at`, ms on Redis's clock) or a JSON array of events of one change.
local function publish_event(channel, event)
  redis.call('PUBLISH', channel, cjson.encode(event))
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
