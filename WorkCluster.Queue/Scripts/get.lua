-- get: a job's record, result and lease deadline, as one consistent read; nothing if it does not exist or its TTL
-- has passed.
--! keys: jobs results expiry leases
-- K.jobs   K.results   K.expiry (zset)   K.leases (zset)
-- ARGV[1] id
-- Returns { record (JSON), result (JSON text) or false, lease deadline (ms, as text) or false }, or nil.
--#include clock.lua
--#include records.lua

local raw = live_record(K.jobs, K.expiry, ARGV[1], now_ms())
if not raw then
  return nil
end
return { raw, redis.call('HGET', K.results, ARGV[1]), redis.call('ZSCORE', K.leases, ARGV[1]) }
