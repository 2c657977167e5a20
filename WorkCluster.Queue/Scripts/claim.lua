#!lua flags=allow-oom
-- claim: take up to N jobs from the head of the ready queue (highest rank first, see ready.lua), each for one attempt
-- under a lease: a fencing token unique to the attempt and a deadline in the leases zset. A lease nobody renews
-- lapses, and the sweep takes the job back, so a claim whose reply never reached the worker loses nothing. Scheduled
-- jobs that have fallen due are promoted first, so an idle worker that wakes for the next due job finds it. Runs under
-- Redis's maxmemory (allow-oom): draining must never be refused for memory.
--! keys: ready jobs payloads leases fence signal paused scheduled sequence events http claim ...answered
-- K.ready (zset id -> rank)   K.jobs   K.payloads   K.leases (zset id -> deadline ms)
-- K.fence (counter)   K.signal   K.paused flag   K.scheduled (zset id -> due ms)
-- K.sequence (counter)   K.events (channel)   K.http the HTTP workers' ready queue (zset: due jobs of
-- their types are promoted there)   K.claim this call's key (string, kept ARGV[7] ms: the ids it took, for
-- claimed.lua should its answer be lost)
-- ARGV[1] worker id   ARGV[2] N (at most this many jobs; at most 1000 are taken at once)   ARGV[3] lease TTL (ms)   ARGV[4] salt of this claim
-- ARGV[5] reply budget (bytes of data: past it, no further job is added; the first always is)
-- ARGV[6] priority aging (ms per level)   ARGV[7] how long this call's key is kept (ms; deleted sooner by a later call)
-- K.answered the keys of earlier calls whose answers came, deleted
-- Returns { ms until the next scheduled job falls due (-1: none), then id, lease token, record (JSON), data (JSON
-- text), ... for each claimed job }.
--#include clock.lua
--#include signal.lua
--#include ready.lua
--#include events.lua
--#include promote.lua
--#include attempt.lua

local now = now_ms()
for _, answered in ipairs(K.answered) do
  redis.call('DEL', answered) -- the keys of earlier calls whose answers came: no longer needed
end
if redis.call('EXISTS', K.paused) == 1 then
  return { next_due_in(K.scheduled, now) }
end
promote_due(K, now, 1000, tonumber(ARGV[6]))

local deadline = string.format('%d', now + tonumber(ARGV[3]))
-- At most 1000 at once: Lua's unpack takes a few thousand values, and a claim must fail before it pops, never after.
local most, budget = math.min(tonumber(ARGV[2]), 1000), tonumber(ARGV[5])
local claimed, count, bytes, sequence = { 0 }, 0, 0, nil
local started = listened(K.events) and {} or nil -- events are built only while anybody listens
-- The heads of the queue in one command, their records and data in one each; the batch's writes in one each at the end.
local heads = redis.call('ZPOPMIN', K.ready, most)
if #heads > 0 then
  local ids, scores, ranks, sorted = {}, {}, {}, true
  for i = 1, #heads, 2 do
    ids[#ids + 1] = heads[i]
    scores[#scores + 1] = heads[i + 1] -- as the store wrote it: it goes back exactly so
    ranks[#ranks + 1] = tonumber(heads[i + 1])
    sorted = sorted and (#ranks == 1 or ranks[#ranks - 1] <= ranks[#ranks])
  end
  if not sorted then
    -- Head first, whatever order the store popped them in (Garnet's ZPOPMIN with a count does not keep it).
    local order = {}
    for n = 1, #ids do
      order[n] = n
    end
    table.sort(order, function(x, y)
      if ranks[x] ~= ranks[y] then
        return ranks[x] < ranks[y]
      end
      return ids[x] < ids[y]
    end)
    local sorted_ids, sorted_scores = {}, {}
    for n = 1, #order do
      sorted_ids[n], sorted_scores[n] = ids[order[n]], scores[order[n]]
    end
    ids, scores = sorted_ids, sorted_scores
  end
  local records = redis.call('HMGET', K.jobs, unpack(ids))
  -- The data in growing chunks (8, 16, 32, ...): a claim that the reply's budget stops early (large payloads) has
  -- not read the data of every job it popped.
  local datas, loaded, chunk = {}, 0, 8
  local function data_of(n)
    if n > loaded then
      local last = math.min(#ids, loaded + chunk)
      local got = redis.call('HMGET', K.payloads, unpack(ids, loaded + 1, last))
      for m = 1, #got do
        datas[loaded + m] = got[m]
      end
      loaded, chunk = last, chunk * 2
    end
    return datas[n] or 'null'
  end
  local stored, leased, back, taken = {}, {}, {}, {}
  for n = 1, #ids do
    local id, raw = ids[n], records[n]
    local job = raw and cjson.decode(raw)
    if job and job.status == 'pending' then
      local data = data_of(n)
      if count > 0 and bytes + #data > budget then
        -- Over the reply's budget: this one and every later head go back, next in line for the next claim.
        for m = n, #ids do
          back[#back + 1] = scores[m]
          back[#back + 1] = ids[m]
        end
        break
      end
      if not sequence then
        sequence = redis.call('INCRBY', K.fence, most) - most
      end
      count = count + 1
      bytes = bytes + #data
      -- Unique per attempt: the fence's sequence, and the claim's own salt in case a restarted Redis (its last second
      -- of writes lost) hands out a sequence number again.
      local token = string.format('%d', sequence + count) .. '-' .. ARGV[4]
      raw = begin_attempt(job, ARGV[1], token, now)
      stored[#stored + 1] = id
      stored[#stored + 1] = raw
      leased[#leased + 1] = deadline
      leased[#leased + 1] = id
      taken[count] = id
      claimed[#claimed + 1] = id
      claimed[#claimed + 1] = token
      claimed[#claimed + 1] = raw
      claimed[#claimed + 1] = data
      if started then
        started[count] = job_event('started', id, job, now)
      end
    end
    -- Anything else is a stale entry (its job already moved on): dropped.
  end
  if #back > 0 then
    redis.call('ZADD', K.ready, unpack(back))
  end
  if count > 0 then
    redis.call('HSET', K.jobs, unpack(stored))
    redis.call('ZADD', K.leases, unpack(leased))
    redis.call('SET', K.claim, table.concat(taken, ' '), 'PX', ARGV[7])
  end
end

if started and count > 0 then
  redis.call('PUBLISH', K.events, cjson.encode(started)) -- one message for the batch
end
claimed[1] = next_due_in(K.scheduled, now)
pass_signal(K.ready, K.signal)
return claimed
