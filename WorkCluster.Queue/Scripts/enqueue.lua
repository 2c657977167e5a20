-- enqueue: a new job record and its place at the tail of the queue, in one step.
-- KEYS[1] jobs (hash id -> record)   KEYS[2] payloads (hash id -> data)
-- KEYS[3] queue (list)               KEYS[4] signal (list)
-- ARGV[1] id  ARGV[2] type  ARGV[3] accepted_by  ARGV[4] data (JSON text)  ARGV[5] trace parent ('' if none)
-- Returns the record's created_at (ms), or 0 if the id exists already.
--#include clock.lua
--#include signal.lua

local id = ARGV[1]
if redis.call('HEXISTS', KEYS[1], id) == 1 then
  return 0
end

local now = now_ms()
local job = { status = 'pending', type = ARGV[2], accepted_by = ARGV[3], created_at = now, attempts = 0 }
if ARGV[5] ~= '' then
  job.trace = ARGV[5]
end

redis.call('HSET', KEYS[1], id, cjson.encode(job))
redis.call('HSET', KEYS[2], id, ARGV[4])
redis.call('LPUSH', KEYS[3], id)
pass_signal(KEYS[3], KEYS[4])
return now
