-- enqueue: a new job record and its place at the tail of the queue, in one step; or, for a repeated
-- Idempotency-Key, the job that key created; or nothing at all when the queue is full.
-- KEYS[1] jobs (hash id -> record)   KEYS[2] payloads (hash id -> data)   KEYS[3] queue (list)
-- KEYS[4] signal (list)              KEYS[5] idempotency (hash key -> "id fingerprint")
-- KEYS[6] expiry (zset id -> ms)
-- ARGV[1] id  ARGV[2] type  ARGV[3] accepted_by  ARGV[4] data (JSON text)  ARGV[5] trace parent ('' if none)
-- ARGV[6] max queue length  ARGV[7] idempotency key ('' if none)  ARGV[8] request fingerprint
-- Returns { code, id, accepted_by, trace parent }: code 1 created, 2 replay of the key's job, 3 key used with another
-- request, 4 queue full, 5 id taken (retry with another id).
--#include clock.lua
--#include signal.lua
--#include records.lua

local id, idem_key, fingerprint = ARGV[1], ARGV[7], ARGV[8]
local now = now_ms()

if idem_key ~= '' then
  local entry = redis.call('HGET', KEYS[5], idem_key)
  if entry then
    local sep = string.find(entry, ' ', 1, true)
    local earlier_id, earlier_fingerprint = string.sub(entry, 1, sep - 1), string.sub(entry, sep + 1)
    local earlier = live_record(KEYS[1], KEYS[6], earlier_id, now)
    if earlier then
      earlier = cjson.decode(earlier)
      if earlier_fingerprint == fingerprint then
        return { 2, earlier_id, earlier.accepted_by or '', earlier.trace or '' }
      end
      return { 3, earlier_id, '', '' }
    end
  end
end

if redis.call('LLEN', KEYS[3]) >= tonumber(ARGV[6]) then
  return { 4, '', '', '' }
end
if redis.call('HEXISTS', KEYS[1], id) == 1 then
  return { 5, '', '', '' }
end

local job = { status = 'pending', type = ARGV[2], accepted_by = ARGV[3], created_at = now, attempts = 0 }
if ARGV[5] ~= '' then
  job.trace = ARGV[5]
end
if idem_key ~= '' then
  job.idempotency_key = idem_key
  redis.call('HSET', KEYS[5], idem_key, id .. ' ' .. fingerprint)
end

redis.call('HSET', KEYS[1], id, cjson.encode(job))
redis.call('HSET', KEYS[2], id, ARGV[4])
redis.call('LPUSH', KEYS[3], id)
pass_signal(KEYS[3], KEYS[4])
return { 1, id, ARGV[3], ARGV[5] }
