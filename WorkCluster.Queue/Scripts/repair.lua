#!lua flags=allow-oom
-- repair: after the store restarted, bring the queue's indexes back in line with the job records, a slice of the
-- records at a time. A store that replays its append-only file may keep only part of a script's writes (Garnet logs
-- them one by one): a job popped from the ready queue whose record still says pending, a record marked working with no
-- lease, a finished job with no expiry. Every script keeps these in line between calls, so a mismatch is a crash's.
-- Each repair is the one that loses nothing: the job goes back where its record says it is; a record without its
-- payload, which only an enqueue that never got to answer leaves, is deleted. Runs under maxmemory (allow-oom).
-- A pass starts whenever the store's run id (INFO server, given by the caller) is not the one the last pass saw.
--! keys: jobs payloads results ready http scheduled leases expiry failed cancelled stats sweep_clock idempotency signal
-- K.jobs   K.payloads   K.results   K.ready (zset)   K.http the HTTP workers' ready queue
-- K.scheduled (zset)   K.leases (zset)   K.expiry (zset)   K.failed (zset)   K.cancelled
-- K.stats (hash)   K.sweep_clock sweep clock (hash: run_id, the pass's cursor in repair)   K.idempotency
-- K.signal (list: idle workers are woken for jobs made ready again)
-- ARGV[1] the store's run id   ARGV[2] records per slice   ARGV[3] priority aging (ms per level)   ARGV[4] lease TTL (ms)
-- ARGV[5] TTL of a worked or cancelled record (ms)   ARGV[6] TTL of a failed record (ms)
-- Returns { 1 while a pass is under way (call again), 0 when none is, the records repaired by this slice }.
--#include clock.lua
--#include signal.lua
--#include events.lua
--#include jobs.lua
--#include ready.lua

local clock = K.sweep_clock
if redis.call('HGET', clock, 'run_id') ~= ARGV[1] then
  redis.call('HSET', clock, 'run_id', ARGV[1], 'repair', '0')
end
local cursor = redis.call('HGET', clock, 'repair')
if not cursor then
  return { 0, 0 }
end

local now = now_ms()
local aging, lease_ttl, ttl, failed_ttl = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local function indexed(key, id)
  return redis.call('ZSCORE', key, id) ~= false
end
local repaired, readied = 0, false
local scan = redis.call('HSCAN', K.jobs, cursor, 'COUNT', tonumber(ARGV[2]))
local entries = scan[2]
for i = 1, #entries, 2 do
  local id = entries[i]
  local job = cjson.decode(entries[i + 1])
  local status = job.status
  local unfinished = status == 'pending' or status == 'scheduled' or status == 'working'
  if unfinished and redis.call('HEXISTS', K.payloads, id) == 0 then
    forget_job(K, id)
    repaired = repaired + 1
  elseif status == 'pending' or status == 'scheduled' then
    local lane = ready_of(K.ready, K.http, job)
    if not indexed(lane, id) and not indexed(K.scheduled, id) then
      if status == 'scheduled' then
        redis.call('ZADD', K.scheduled, job.run_at or now, id)
      elseif job.retry_at then
        redis.call('ZADD', K.scheduled, job.retry_at, id)
      else
        make_ready_again(lane, id, job, aging)
        readied = true
      end
      repaired = repaired + 1
    end
  elseif status == 'working' then
    if not indexed(K.leases, id) then
      -- A lease from now: the worker that holds it renews it (the sweep takes it back should none).
      redis.call('ZADD', K.leases, now + lease_ttl, id)
      repaired = repaired + 1
    end
  elseif status == 'worked' or status == 'cancelled' or status == 'failed' then
    local fixed = false
    if status == 'failed' and not indexed(K.failed, id) then
      redis.call('ZADD', K.failed, job.finished_at or now, id)
      fixed = true
    end
    if not indexed(K.expiry, id) then
      redis.call('ZADD', K.expiry, now + (status == 'failed' and failed_ttl or ttl), id)
      fixed = true
    end
    if status ~= 'failed' and redis.call('HEXISTS', K.payloads, id) == 1 then
      count_bytes(K, 'unfinished_bytes', -redis.call('HSTRLEN', K.payloads, id))
      redis.call('HDEL', K.payloads, id)
      fixed = true
    end
    if fixed then
      repaired = repaired + 1
    end
  end
end
if readied then
  pass_signal(K.ready, K.signal)
end
if scan[1] == '0' then
  redis.call('HDEL', clock, 'repair')
  return { 0, repaired }
end
redis.call('HSET', clock, 'repair', scan[1])
return { 1, repaired }
