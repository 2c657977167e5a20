-- maintenance: how the last run of each upkeep duty went, as one read.
--! keys: maintenance
-- K.maintenance (hash duty -> JSON, see maintained.lua)
-- Returns { now (ms, the store's clock), duty, JSON, duty, JSON, ... }.
--#include clock.lua

local out = { now_ms() }
local fields = redis.call('HGETALL', K.maintenance)
for i = 1, #fields do
  out[#out + 1] = fields[i]
end
return out
