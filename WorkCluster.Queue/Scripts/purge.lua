-- purge: delete finished jobs whose TTL has passed (at most N per call), with everything that refers to them.
-- KEYS[1] expiry (zset)   KEYS[2] jobs   KEYS[3] payloads   KEYS[4] results   KEYS[5] failed (zset)
-- KEYS[6] idempotency (hash)
-- ARGV[1] N
-- Returns the number of jobs deleted.
--#include clock.lua

local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms(), 'LIMIT', 0, tonumber(ARGV[1]))
for _, id in ipairs(ids) do
  local raw = redis.call('HGET', KEYS[2], id)
  if raw then
    local job = cjson.decode(raw)
    if job.idempotency_key then
      local entry = redis.call('HGET', KEYS[6], job.idempotency_key)
      -- The key may have been taken over by a newer job since: only drop it if it still names this one.
      if entry and string.sub(entry, 1, #id + 1) == id .. ' ' then
        redis.call('HDEL', KEYS[6], job.idempotency_key)
      end
    end
  end
  redis.call('HDEL', KEYS[2], id)
  redis.call('HDEL', KEYS[3], id)
  redis.call('HDEL', KEYS[4], id)
  redis.call('ZREM', KEYS[5], id)
  redis.call('ZREM', KEYS[1], id)
end
return #ids
