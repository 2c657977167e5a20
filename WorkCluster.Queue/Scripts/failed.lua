-- failed: one page of a list of finished jobs (the dead letter, or the cancelled jobs), newest first, as one
-- consistent read.
-- KEYS[1] the list (zset id -> when it failed, or was cancelled, ms)   KEYS[2] jobs   KEYS[3] expiry (zset)
-- ARGV[1] offset   ARGV[2] page size
-- Returns { total, id, record, id, record, ... }.
--#include clock.lua

local now = now_ms()
-- Entries whose TTL has passed are not shown; the total counts them until the purge deletes them.
local total = redis.call('ZCARD', KEYS[1])
local page = {}
local offset, size = tonumber(ARGV[1]), tonumber(ARGV[2])
local ids = redis.call('ZREVRANGE', KEYS[1], offset, offset + size - 1)
for _, id in ipairs(ids) do
  local expires = redis.call('ZSCORE', KEYS[3], id)
  local raw = redis.call('HGET', KEYS[2], id)
  if raw and not (expires and tonumber(expires) <= now) then
    page[#page + 1] = id
    page[#page + 1] = raw
  end
end
return { total, unpack(page) }
