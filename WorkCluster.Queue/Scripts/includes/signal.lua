-- The signal list holds at most one wake-up token. An idle worker blocks on it (BLPOP); the worker it wakes
-- claims work and, if work is left, puts the token back for the next idle worker. No herd, no lost wake-up.
local function pass_signal(queue, signal)
  if redis.call('LLEN', queue) > 0 then
    if redis.call('LLEN', signal) == 0 then
      redis.call('RPUSH', signal, '1')
    end
  else
    redis.call('DEL', signal)
  end
end
