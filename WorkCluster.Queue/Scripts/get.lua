-- get: a job's record, result and lease deadline, as one consistent read; nothing if it does not exist or its TTL
-- has passed.
-- KEYS[1] jobs   KEYS[2] results   KEYS[3] expiry (zset)   KEYS[4] leases (zset)
-- ARGV[1] id
-- Returns { record (JSON), result (JSON text) or false, lease deadline (ms, as text) or false }, or nil.
--#include clock.lua
--#include records.lua

local raw = live_record(KEYS[1], KEYS[3], ARGV[1], now_ms())
if not raw then
  return nil
end
return { raw, redis.call('HGET', KEYS[2], ARGV[1]), redis.call('ZSCORE', KEYS[4], ARGV[1]) }
