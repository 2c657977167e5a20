-- The signal list holds at most one wake-up token. An idle worker blocks on it (BLPOP); the worker it wakes
-- claims work and, if work is left, puts the token back for the next idle worker. No herd, no lost wake-up.
-- `ready` is the queue of jobs ready to run (a sorted set).
local function pass_signal(ready, signal)
  if redis.call('ZCARD', ready) > 0 then
    if redis.call('LLEN', signal) == 0 then
      redis.call('RPUSH', signal, '1')
    end
  else
    redis.call('DEL', signal)
  end
end

-- Wakes one idle worker whatever the queue holds: e.g. a scheduled job now falls due sooner than idle workers
-- expected, and one of them must look again.
local function wake_one(signal)
  if redis.call('LLEN', signal) == 0 then
    redis.call('RPUSH', signal, '1')
  end
end
