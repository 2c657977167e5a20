-- enqueue: a new job record and its place in the ready queue (by priority), or in the schedule until it falls due,
-- in one step; or, for a repeated Idempotency-Key, the job that key created; or nothing at all when the queue's
-- budget is spent.
-- KEYS[1] jobs (hash id -> record)   KEYS[2] payloads (hash id -> data)   KEYS[3] ready (zset id -> rank)
-- KEYS[4] signal (list)              KEYS[5] idempotency (hash key -> "id fingerprint")
-- KEYS[6] expiry (zset id -> ms)     KEYS[7] scheduled (zset id -> due ms)   KEYS[8] leases (zset)
-- KEYS[9] stats (hash)               KEYS[10] sequence (counter)   KEYS[11] events (channel)
-- KEYS[12] the HTTP workers' ready queue (zset id -> rank)
-- ARGV[1] id  ARGV[2] type  ARGV[3] accepted_by  ARGV[4] data (JSON text)  ARGV[5] trace parent ('' if none)
-- ARGV[6] most unfinished jobs  ARGV[7] most unfinished payload bytes  ARGV[8] idempotency key ('' if none)
-- ARGV[9] request fingerprint  ARGV[10] priority (0-9)  ARGV[11] delay (ms, from Redis's clock; -1 if none)
-- ARGV[12] run at (ms since the epoch; -1 if none)  ARGV[13] priority aging (ms per level)  ARGV[14] longest delay (ms)
-- ARGV[15] callback URL ('' if none)  ARGV[16] owner (the submitting API key's name; '' if none)
-- ARGV[17] lane: 'http' for a type only workers of the HTTP lease protocol serve, '' for the .NET workers
-- Returns { code, id, accepted_by, trace parent }: code 1 created, 2 replay of the key's job, 3 key used with another
-- request, 4 too many unfinished jobs, 5 id taken (retry with another id), 6 too many unfinished payload bytes,
-- 7 due further ahead than the longest delay.
-- Under Redis's maxmemory its first write is refused (OOM) and nothing is written.
--#include clock.lua
--#include signal.lua
--#include records.lua
--#include ready.lua
--#include events.lua
--#include create.lua

local id, idem_key, fingerprint = ARGV[1], ARGV[8], ARGV[9]
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

local due = nil
if tonumber(ARGV[11]) >= 0 then
  due = now + tonumber(ARGV[11])
elseif tonumber(ARGV[12]) >= 0 then
  due = tonumber(ARGV[12])
end
if due and due > now + tonumber(ARGV[14]) then
  return { 7, '', '', '' }
end

local K = { jobs = KEYS[1], payloads = KEYS[2], ready = KEYS[3], signal = KEYS[4], scheduled = KEYS[7], leases = KEYS[8],
  stats = KEYS[9], sequence = KEYS[10], http = KEYS[12] }
local refused = refusal(K, #ARGV[4], tonumber(ARGV[6]), tonumber(ARGV[7]))
if refused then
  return { refused, '', '', '' }
end
if redis.call('HEXISTS', KEYS[1], id) == 1 then
  return { 5, '', '', '' }
end

local job = { type = ARGV[2], accepted_by = ARGV[3] }
local priority = tonumber(ARGV[10])
if priority ~= 5 then
  job.priority = priority -- 5 when absent: the record stays as small as it was for jobs that do not use priorities
end
if ARGV[5] ~= '' then
  job.trace = ARGV[5]
end
if idem_key ~= '' then
  job.idempotency_key = idem_key
end
if ARGV[15] ~= '' then
  job.callback_url = ARGV[15]
end
if ARGV[16] ~= '' then
  job.owner = ARGV[16]
end
if ARGV[17] == 'http' then
  job.lane = 'http'
end
create_job(K, id, job, ARGV[4], due, now, tonumber(ARGV[13]))
announce(KEYS[11], 'accepted', id, job, now, { status = job.status, priority = job.priority, run_at = job.run_at })
if idem_key ~= '' then
  redis.call('HSET', KEYS[5], idem_key, id .. ' ' .. fingerprint)
end
return { 1, id, ARGV[3], ARGV[5] }
