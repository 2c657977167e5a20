-- stats: the queue at a glance, as one consistent read.
--! keys: ready scheduled failed stats paused leases schedules http
-- K.ready (zset)   K.scheduled (zset)   K.failed (zset)   K.stats (hash of totals)   K.paused flag
-- K.leases (zset)   K.schedules (hash)   K.http the HTTP workers' ready queue (zset)
-- Returns the figures as name, value pairs (read by name, in any order): depth (jobs ready, in both lanes),
-- scheduled (delayed, or waiting for a retry), dead_letter, worked (total), failed (total), paused (0/1), leases
-- (held), recovered (leases taken back, total), unfinished_bytes (payload bytes), dead_letter_dropped (total),
-- cancelled (total), schedules (recurring).

local function total(field)
  return tonumber(redis.call('HGET', K.stats, field) or 0)
end

return {
  'depth', redis.call('ZCARD', K.ready) + redis.call('ZCARD', K.http),
  'scheduled', redis.call('ZCARD', K.scheduled),
  'dead_letter', redis.call('ZCARD', K.failed),
  'worked', total('worked'),
  'failed', total('failed'),
  'paused', redis.call('EXISTS', K.paused),
  'leases', redis.call('ZCARD', K.leases),
  'recovered', total('recovered'),
  'unfinished_bytes', total('unfinished_bytes'),
  'dead_letter_dropped', total('dead_letter_dropped'),
  'cancelled', total('cancelled'),
  'schedules', redis.call('HLEN', K.schedules),
}
