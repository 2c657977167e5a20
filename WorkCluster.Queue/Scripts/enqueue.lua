-- enqueue: new jobs, each a record and its place in the ready queue (by priority), or in the schedule until it falls
-- due; or, for a repeated Idempotency-Key, the job that key created; or nothing at all when the queue's budget is
-- spent. One call takes a batch of submissions (group commit: an API replica sends the submissions that arrived
-- while its previous call was on the way), each handled in turn exactly as if it came alone.
--! keys: jobs payloads ready signal idempotency expiry scheduled leases stats sequence events http
-- K.jobs (hash id -> record)   K.payloads (hash id -> data)   K.ready (zset id -> rank)
-- K.signal (list)              K.idempotency (hash key -> "id fingerprint")
-- K.expiry (zset id -> ms)     K.scheduled (zset id -> due ms)   K.leases (zset)
-- K.stats (hash)               K.sequence (counter)   K.events (channel)
-- K.http the HTTP workers' ready queue (zset id -> rank)
-- ARGV[1] most unfinished jobs   ARGV[2] most unfinished payload bytes   ARGV[3] priority aging (ms per level)
-- ARGV[4] longest delay (ms)   ARGV[5] n, the submissions that follow, 13 arguments each:
--   id, type, accepted_by, data (JSON text), trace parent ('' if none), idempotency key ('' if none), request
--   fingerprint, priority (0-9), delay (ms, from Redis's clock; -1 if none), run at (ms since the epoch; -1 if none),
--   callback URL ('' if none), owner (the submitting API key's name; '' if none), lane ('http' for a type only workers
--   of the HTTP lease protocol serve, '' for the .NET workers)
-- Returns { outcome, id, accepted_by, trace parent } for each submission in turn (the names of QueueOutcome, see WorkCluster.Queue/QueueOutcome.cs): 'created' (or
-- created already: the id is chosen before the first try, so a submission sent again after an answer that never came is
-- created once), 'replayed' (the key's job), 'key_conflict' (key used with another request), 'queue_full' (too many
-- unfinished jobs), 'duplicate' (id named twice in this call), 'queue_bytes_full' (too many unfinished payload bytes),
-- 'too_far_ahead' (due further ahead than the longest delay).
-- Under Redis's maxmemory the script's first write is refused (OOM) and nothing is written.
--#include clock.lua
--#include signal.lua
--#include records.lua
--#include ready.lua
--#include events.lua
--#include create.lua

local Stride = 13
local now = now_ms()
local max_jobs, max_bytes, aging, longest = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local accepted = listened(K.events) and {} or nil -- events are built only while anybody listens
local replies = {}
local count = tonumber(ARGV[5])
local batch = new_batch(count)
-- The budget, read once and kept here as jobs are created: unfinished jobs (ready, scheduled, or leased to a worker)
-- and their payload bytes.
local unfinished = redis.call('ZCARD', K.ready) + redis.call('ZCARD', K.http) + redis.call('ZCARD', K.scheduled)
  + redis.call('ZCARD', K.leases)
local unfinished_bytes = tonumber(redis.call('HGET', K.stats, 'unfinished_bytes')) or 0
local taken = {} -- ids created in this call (their writes may not be made yet)

local function reply(code, id, by, trace)
  replies[#replies + 1] = code
  replies[#replies + 1] = id
  replies[#replies + 1] = by
  replies[#replies + 1] = trace
end

local function submit(a)
  local id, idem_key, fingerprint = ARGV[a], ARGV[a + 5], ARGV[a + 6]
  if idem_key ~= '' then
    -- Everything created so far written first: this key may name one of them.
    flush_jobs(K, batch)
    local entry = redis.call('HGET', K.idempotency, idem_key)
    if entry then
      local sep = string.find(entry, ' ', 1, true)
      local earlier_id, earlier_fingerprint = string.sub(entry, 1, sep - 1), string.sub(entry, sep + 1)
      local earlier = live_record(K.jobs, K.expiry, earlier_id, now)
      if earlier then
        earlier = cjson.decode(earlier)
        if earlier_id == id then
          return reply('created', id, earlier.accepted_by or '', earlier.trace or '') -- this very submission, sent again
        end
        if earlier_fingerprint == fingerprint then
          return reply('replayed', earlier_id, earlier.accepted_by or '', earlier.trace or '')
        end
        return reply('key_conflict', earlier_id, '', '')
      end
    end
  end

  local due = nil
  if tonumber(ARGV[a + 8]) >= 0 then
    due = now + tonumber(ARGV[a + 8])
  elseif tonumber(ARGV[a + 9]) >= 0 then
    due = tonumber(ARGV[a + 9])
  end
  if due and due > now + longest then
    return reply('too_far_ahead', '', '', '')
  end

  -- Sent again (the answer to an earlier call never came): that call created it. A job of another submission cannot
  -- have this id (128 random bits).
  local existing = not taken[id] and redis.call('HGET', K.jobs, id)
  if existing then
    existing = cjson.decode(existing)
    return reply('created', id, existing.accepted_by or '', existing.trace or '')
  end

  local data = ARGV[a + 3]
  if unfinished >= max_jobs then
    return reply('queue_full', '', '', '')
  end
  if unfinished_bytes + #data > max_bytes then
    return reply('queue_bytes_full', '', '', '')
  end
  if taken[id] then
    return reply('duplicate', '', '', '')
  end

  local job = { type = ARGV[a + 1], accepted_by = ARGV[a + 2] }
  local priority = tonumber(ARGV[a + 7])
  if priority ~= 5 then
    job.priority = priority -- 5 when absent: the record stays as small as it was for jobs that do not use priorities
  end
  if ARGV[a + 4] ~= '' then
    job.trace = ARGV[a + 4]
  end
  if idem_key ~= '' then
    job.idempotency_key = idem_key
  end
  if ARGV[a + 10] ~= '' then
    job.callback_url = ARGV[a + 10]
  end
  if ARGV[a + 11] ~= '' then
    job.owner = ARGV[a + 11]
  end
  if ARGV[a + 12] == 'http' then
    job.lane = 'http'
  end
  -- A keyed job is written at once, so that a later use of its key in this call finds it.
  create_job(K, id, job, data, due, now, aging, batch, idem_key ~= '')
  taken[id] = true
  unfinished = unfinished + 1
  unfinished_bytes = unfinished_bytes + #data
  if accepted then
    accepted[#accepted + 1] = job_event('accepted', id, job, now, { status = job.status, priority = job.priority, run_at = job.run_at })
  end
  if idem_key ~= '' then
    redis.call('HSET', K.idempotency, idem_key, id .. ' ' .. fingerprint)
  end
  return reply('created', id, ARGV[a + 2], ARGV[a + 4])
end

for i = 0, count - 1 do
  submit(6 + i * Stride)
end
flush_jobs(K, batch)
if accepted and #accepted > 0 then
  redis.call('PUBLISH', K.events, cjson.encode(#accepted == 1 and accepted[1] or accepted)) -- one message for the batch
end
return replies
