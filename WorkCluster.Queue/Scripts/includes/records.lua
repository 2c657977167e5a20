-- The record (JSON) of job `id`, or nil if there is none or its TTL (its score in the expiry zset) has passed. A job
-- whose webhook is still being delivered lives on past its TTL until the delivery ends (the purge holds it too).
local function live_record(jobs, expiry, id, now)
  local raw = redis.call('HGET', jobs, id)
  if not raw then
    return nil
  end
  local expires = redis.call('ZSCORE', expiry, id)
  if expires and tonumber(expires) <= now then
    if string.find(raw, '"webhook"', 1, true) then
      local job = cjson.decode(raw)
      if job.webhook and job.webhook.status == 'pending' then
        return raw
      end
    end
    return nil
  end
  return raw
end
