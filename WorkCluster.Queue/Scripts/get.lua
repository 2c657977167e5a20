-- get: a job's record and result, as one consistent read; nothing if it does not exist or its TTL has passed.
-- KEYS[1] jobs   KEYS[2] results   KEYS[3] expiry (zset)
-- ARGV[1] id
-- Returns { record (JSON), result (JSON text) or false }, or nil.
--#include clock.lua

local id = ARGV[1]
local raw = redis.call('HGET', KEYS[1], id)
if not raw then
  return nil
end
local expires = redis.call('ZSCORE', KEYS[3], id)
if expires and tonumber(expires) <= now_ms() then
  return nil
end
return { raw, redis.call('HGET', KEYS[2], id) }
