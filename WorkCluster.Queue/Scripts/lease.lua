#!lua flags=allow-oom
-- lease: take up to N jobs of the given work types from the HTTP workers' ready queue (highest rank first, see
-- ready.lua), each for one attempt under a lease, as claim does for the .NET workers: a fencing token unique to the
-- attempt and a deadline in the leases zset, which renew, progress, complete, fail and release check, and the sweep
-- takes back. Looks at most ARGV[7] jobs from the head: jobs of types nobody asking now serves are passed over, not
-- moved. Scheduled jobs that have fallen due are promoted first. Runs under maxmemory (allow-oom), as claim does.
-- KEYS[1] the HTTP workers' ready queue (zset id -> rank)   KEYS[2] jobs   KEYS[3] payloads   KEYS[4] leases
-- KEYS[5] fence (counter)   KEYS[6] paused flag   KEYS[7] scheduled (zset)   KEYS[8] sequence (counter)
-- KEYS[9] events (channel)   KEYS[10] the .NET workers' ready queue (zset, for the promotion)   KEYS[11] signal
-- KEYS[12] this call's key (string, kept ARGV[8] ms: the ids it took, for claimed.lua should its answer be lost)
-- KEYS[13...] the keys of earlier calls whose answers came, deleted
-- ARGV[1] worker id   ARGV[2] N   ARGV[3] lease TTL (ms)   ARGV[4] salt of this lease call
-- ARGV[5] reply budget (bytes of data: past it, no further job is added; the first always is)
-- ARGV[6] priority aging (ms per level)   ARGV[7] how many jobs from the head to look at
-- ARGV[8] how long this call's key is kept (ms; deleted sooner by a later call)   ARGV[9...] the work types
-- Returns { the lease deadline (ms, Redis's clock), then id, lease token, record (JSON), data (JSON text), ... for each
-- leased job }.
--#include clock.lua
--#include signal.lua
--#include ready.lua
--#include events.lua
--#include promote.lua
--#include attempt.lua

local now = now_ms()
local deadline = now + tonumber(ARGV[3])
for i = 13, #KEYS do
  redis.call('DEL', KEYS[i]) -- the keys of earlier calls whose answers came: no longer needed
end
if redis.call('EXISTS', KEYS[6]) == 1 then
  return { deadline }
end
local K = { scheduled = KEYS[7], ready = KEYS[10], jobs = KEYS[2], sequence = KEYS[8], events = KEYS[9], http = KEYS[1] }
if promote_due(K, now, 1000, tonumber(ARGV[6])) > 0 then
  pass_signal(KEYS[10], KEYS[11]) -- .NET jobs it made ready: an idle .NET worker must hear of them
end

local types = {}
for i = 9, #ARGV do
  types[ARGV[i]] = true
end
local most, budget = tonumber(ARGV[2]), tonumber(ARGV[5])
local leased, count, bytes, sequence, taken = { deadline }, 0, 0, nil, {}
local started = listened(K.events) and {} or nil
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[7]) - 1)) do
  if count >= most then
    break
  end
  local raw = redis.call('HGET', KEYS[2], id)
  local job = raw and cjson.decode(raw)
  if not job or job.status ~= 'pending' then
    redis.call('ZREM', KEYS[1], id) -- a stale entry (its job already moved on)
  elseif types[job.type] then
    local data = redis.call('HGET', KEYS[3], id) or 'null'
    if count > 0 and bytes + #data > budget then
      break
    end
    if not sequence then
      sequence = redis.call('INCRBY', KEYS[5], most) - most
    end
    count = count + 1
    bytes = bytes + #data
    local token = string.format('%d', sequence + count) .. '-' .. ARGV[4]
    redis.call('ZREM', KEYS[1], id)
    raw = start_attempt(KEYS[2], KEYS[4], id, job, ARGV[1], token, now, deadline)
    taken[count] = id
    leased[#leased + 1] = id
    leased[#leased + 1] = token
    leased[#leased + 1] = raw
    leased[#leased + 1] = data
    if started then
      started[count] = job_event('started', id, job, now)
    end
  end
end
if count > 0 then
  redis.call('SET', KEYS[12], table.concat(taken, ' '), 'PX', ARGV[8])
end
if started and count > 0 then
  redis.call('PUBLISH', K.events, cjson.encode(started))
end
return leased
