#!lua flags=allow-oom
-- lease: take up to N jobs of the given work types from the HTTP workers' ready queue (highest rank first, see
-- ready.lua), each for one attempt under a lease, as claim does for the .NET workers: a fencing token unique to the
-- attempt and a deadline in the leases zset, which renew, progress, complete, fail and release check, and the sweep
-- takes back. Looks at most ARGV[7] jobs from the head: jobs of types nobody asking now serves are passed over, not
-- moved. Scheduled jobs that have fallen due are promoted first. Runs under maxmemory (allow-oom), as claim does.
--! keys: http jobs payloads leases fence paused scheduled sequence events ready signal claim ...answered
-- K.http the HTTP workers' ready queue (zset id -> rank)   K.jobs   K.payloads   K.leases
-- K.fence (counter)   K.paused flag   K.scheduled (zset)   K.sequence (counter)
-- K.events (channel)   K.ready the .NET workers' ready queue (zset, for the promotion)   K.signal
-- K.claim this call's key (string, kept ARGV[8] ms: the ids it took, for claimed.lua should its answer be lost)
-- K.answered the keys of earlier calls whose answers came, deleted
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
for _, answered in ipairs(K.answered) do
  redis.call('DEL', answered) -- the keys of earlier calls whose answers came: no longer needed
end
if redis.call('EXISTS', K.paused) == 1 then
  return { deadline }
end
if promote_due(K, now, 1000, tonumber(ARGV[6])) > 0 then
  pass_signal(K.ready, K.signal) -- .NET jobs it made ready: an idle .NET worker must hear of them
end

local types = {}
for i = 9, #ARGV do
  types[ARGV[i]] = true
end
local most, budget = tonumber(ARGV[2]), tonumber(ARGV[5])
local leased, count, bytes, sequence, taken = { deadline }, 0, 0, nil, {}
local started = listened(K.events) and {} or nil
for _, id in ipairs(redis.call('ZRANGE', K.http, 0, tonumber(ARGV[7]) - 1)) do
  if count >= most then
    break
  end
  local raw = redis.call('HGET', K.jobs, id)
  local job = raw and cjson.decode(raw)
  if not job or job.status ~= 'pending' then
    redis.call('ZREM', K.http, id) -- a stale entry (its job already moved on)
  elseif types[job.type] then
    local data = redis.call('HGET', K.payloads, id) or 'null'
    if count > 0 and bytes + #data > budget then
      break
    end
    if not sequence then
      sequence = redis.call('INCRBY', K.fence, most) - most
    end
    count = count + 1
    bytes = bytes + #data
    local token = string.format('%d', sequence + count) .. '-' .. ARGV[4]
    redis.call('ZREM', K.http, id)
    raw = start_attempt(K.jobs, K.leases, id, job, ARGV[1], token, now, deadline)
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
  redis.call('SET', K.claim, table.concat(taken, ' '), 'PX', ARGV[8])
end
if started and count > 0 then
  redis.call('PUBLISH', K.events, cjson.encode(started))
end
return leased
