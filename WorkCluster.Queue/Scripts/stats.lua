-- stats: the queue at a glance, as one consistent read.
--! keys: ready scheduled failed stats paused leases schedules http
-- K.ready (zset)   K.scheduled (zset)   K.failed (zset)   K.stats (hash of totals)   K.paused flag
-- K.leases (zset)   K.schedules (hash)   K.http the HTTP workers' ready queue (zset)
-- Returns { depth (jobs ready, in both lanes), jobs scheduled (delayed, or waiting for a retry), dead letter, worked total, failed total, paused (0/1), leases held,
--   leases taken back (total), unfinished payload bytes, dead-letter entries dropped (total), cancelled (total),
--   recurring schedules }.

local function total(field)
  return tonumber(redis.call('HGET', K.stats, field) or 0)
end

return {
  redis.call('ZCARD', K.ready) + redis.call('ZCARD', K.http),
  redis.call('ZCARD', K.scheduled),
  redis.call('ZCARD', K.failed),
  total('worked'),
  total('failed'),
  redis.call('EXISTS', K.paused),
  redis.call('ZCARD', K.leases),
  total('recovered'),
  total('unfinished_bytes'),
  total('dead_letter_dropped'),
  total('cancelled'),
  redis.call('HLEN', K.schedules),
}
