-- Milliseconds since the epoch on the Redis server's clock: one clock for every node of the cluster.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
