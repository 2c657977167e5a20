-- schedules: recurring schedules with their cursors, as one consistent read: the one named, every one, or those due.
--! keys: schedules schedule_cursors
-- K.schedules (hash name -> definition JSON)   K.schedule_cursors cursors (zset name -> first unfired occurrence, ms)
-- ARGV[1] 'one' | 'all' | 'due'   ARGV[2] name (one) or most schedules returned (due)
-- Returns { Redis's clock (ms), then name, definition, cursor (ms, as text), ... } (for 'due': those whose cursor has
-- come, earliest first, then the next cursor after them or -1 as the last element's pair { '', '', next }).
--#include clock.lua

local now = now_ms()
local out = { now }
local function add(name, cursor)
  local definition = redis.call('HGET', K.schedules, name)
  if definition then
    out[#out + 1] = name
    out[#out + 1] = definition
    out[#out + 1] = cursor or redis.call('ZSCORE', K.schedule_cursors, name) or '-1'
  end
end
if ARGV[1] == 'one' then
  add(ARGV[2])
elseif ARGV[1] == 'all' then
  for _, name in ipairs(redis.call('HKEYS', K.schedules)) do
    add(name)
  end
else
  local due = redis.call('ZRANGEBYSCORE', K.schedule_cursors, '-inf', now, 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[2]))
  for i = 1, #due, 2 do
    add(due[i], due[i + 1])
  end
  local next = redis.call('ZRANGEBYSCORE', K.schedule_cursors, '(' .. now, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  out[#out + 1] = ''
  out[#out + 1] = ''
  out[#out + 1] = next[2] or '-1'
end
return out
