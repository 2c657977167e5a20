-- turn: takes or keeps an upkeep duty's turn for one runner. The turn is free, or already this runner's: it is this
-- runner's for ARGV[2] ms more. Held by another: refused. So the holder keeps its turn tick after tick (it never misses
-- one to its own key's lifetime), and another runner takes it only once the holder has stopped taking it.
--! keys: turn
-- K.turn (string: the runner holding the duty's turn, with a TTL)
-- ARGV[1] runner   ARGV[2] how long the turn is held (ms)
-- Returns 1 if the turn is this runner's, 0 if another's.

local holder = redis.call('GET', K.turn)
if holder and holder ~= ARGV[1] then
  return 0
end
redis.call('SET', K.turn, ARGV[1], 'PX', ARGV[2])
return 1
