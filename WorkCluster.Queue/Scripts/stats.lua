-- stats: the queue at a glance, as one consistent read.
-- KEYS[1] ready (zset)   KEYS[2] scheduled (zset)   KEYS[3] failed (zset)   KEYS[4] stats (hash of totals)   KEYS[5] paused flag
-- KEYS[6] leases (zset)   KEYS[7] schedules (hash)   KEYS[8] the HTTP workers' ready queue (zset)
-- Returns { depth (jobs ready, in both lanes), jobs scheduled (delayed, or waiting for a retry), dead letter, worked total, failed total, paused (0/1), leases held,
--   leases taken back (total), unfinished payload bytes, dead-letter entries dropped (total), cancelled (total),
--   recurring schedules }.

local function total(field)
  return tonumber(redis.call('HGET', KEYS[4], field) or 0)
end

return {
  redis.call('ZCARD', KEYS[1]) + redis.call('ZCARD', KEYS[8]),
  redis.call('ZCARD', KEYS[2]),
  redis.call('ZCARD', KEYS[3]),
  total('worked'),
  total('failed'),
  redis.call('EXISTS', KEYS[5]),
  redis.call('ZCARD', KEYS[6]),
  total('recovered'),
  total('unfinished_bytes'),
  total('dead_letter_dropped'),
  total('cancelled'),
  redis.call('HLEN', KEYS[7]),
}
