-- The record (JSON) of job `id`, or nil if there is none or its TTL (its score in the expiry zset) has passed.
local function live_record(jobs, expiry, id, now)
  local raw = redis.call('HGET', jobs, id)
  if not raw then
    return nil
  end
  local expires = redis.call('ZSCORE', expiry, id)
  if expires and tonumber(expires) <= now then
    return nil
  end
  return raw
end
