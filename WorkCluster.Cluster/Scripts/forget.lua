-- forget: drop a dead node from the index, once whatever it left behind has been taken care of. A node that
-- came back meanwhile (its key exists again) is kept.
-- KEYS[1] the node's key   KEYS[2] nodes index (zset)
-- ARGV[1] node id
-- Returns 1 if the node was forgotten.

if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
return redis.call('ZREM', KEYS[2], ARGV[1])
