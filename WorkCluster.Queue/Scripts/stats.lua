-- stats: the queue at a glance, as one consistent read.
-- KEYS[1] queue   KEYS[2] scheduled (zset)   KEYS[3] failed (zset)   KEYS[4] stats (hash of totals)   KEYS[5] paused flag
-- Returns { depth, retries waiting, dead letter, worked total, failed total, paused (0/1) }.

return {
  redis.call('LLEN', KEYS[1]),
  redis.call('ZCARD', KEYS[2]),
  redis.call('ZCARD', KEYS[3]),
  tonumber(redis.call('HGET', KEYS[4], 'worked') or 0),
  tonumber(redis.call('HGET', KEYS[4], 'failed') or 0),
  redis.call('EXISTS', KEYS[5]),
}
