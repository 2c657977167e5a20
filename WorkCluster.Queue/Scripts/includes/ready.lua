-- The ready queue is a sorted set ordered by rank: higher priority first, first in first out within a priority, and
-- each level of priority worth `aging` ms of waiting, so that a low priority waits at most (9 - priority) * aging
-- longer than the highest: it goes ahead of any higher-priority job that became ready that much later.
-- rank = (ready_ms - priority * aging) * 1024 + (sequence mod 1024): exact as a double while ready_ms < 2^43.

-- The rank of a job of `priority` that becomes ready at `ready_ms`, `n` its number from the sequence counter.
local function rank_at(ready_ms, priority, aging, n)
  return (ready_ms - priority * aging) * 1024 + n % 1024
end

-- The rank of a job of `priority` that becomes ready at `ready_ms`; `sequence` is a counter key.
local function rank_of(ready_ms, priority, aging, sequence)
  return rank_at(ready_ms, priority, aging, redis.call('INCR', sequence))
end

-- The ready queue job `job` waits in: the .NET workers' (`ready`), or, for a job of a type that only workers of the
-- HTTP lease protocol serve (its record's lane is 'http'), theirs (`http`). Every script that makes a job ready takes
-- both keys.
local function ready_of(ready, http, job)
  if job.lane == 'http' then
    return http
  end
  return ready
end

-- Puts job `id` in the ready queue at `rank`.
local function make_ready(ready, id, rank)
  redis.call('ZADD', ready, rank, id)
end

-- Puts job `id` (decoded record `job`) back in the ready queue, taken back or handed back: at the place it had when it
-- last became ready (when it was submitted, fell due, or was sent back from the dead letter: `ready_at` when that was
-- not its submission or its run_at), not the end of the line.
local function make_ready_again(ready, id, job, aging)
  local since = job.ready_at or job.run_at or job.created_at or 0
  redis.call('ZADD', ready, (since - (job.priority or 5) * aging) * 1024, id)
end
