-- failed: one page of a list of finished jobs (the dead letter, or the cancelled jobs), newest first, as one
-- consistent read.
--! keys: list jobs expiry
-- K.list the list (zset id -> when it failed, or was cancelled, ms)   K.jobs   K.expiry (zset)
-- ARGV[1] offset   ARGV[2] page size
-- Returns { total, id, record, id, record, ... }.
--#include clock.lua

local now = now_ms()
-- Entries whose TTL has passed are not shown; the total counts them until the purge deletes them.
local total = redis.call('ZCARD', K.list)
local page = {}
local offset, size = tonumber(ARGV[1]), tonumber(ARGV[2])
local ids = redis.call('ZREVRANGE', K.list, offset, offset + size - 1)
for _, id in ipairs(ids) do
  local expires = redis.call('ZSCORE', K.expiry, id)
  local raw = redis.call('HGET', K.jobs, id)
  if raw and not (expires and tonumber(expires) <= now) then
    page[#page + 1] = id
    page[#page + 1] = raw
  end
end
return { total, unpack(page) }
