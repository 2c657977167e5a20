-- maintained: records how the last run of one upkeep duty went, on the store's clock, for the cluster's monitor.
--! keys: maintenance
-- K.maintenance (hash duty -> { runner, at (ms), ok, error, took_ms } as JSON)
-- ARGV[1] duty   ARGV[2] runner   ARGV[3] '1' if it ran to its end, '0' if it failed   ARGV[4] the error ('' if none)
-- ARGV[5] how long it ran (ms)
--#include clock.lua

redis.call('HSET', K.maintenance, ARGV[1], cjson.encode({
  runner = ARGV[2], at = now_ms(), ok = ARGV[3] == '1', error = ARGV[4] ~= '' and ARGV[4] or nil, took_ms = tonumber(ARGV[5]) }))
return 1
