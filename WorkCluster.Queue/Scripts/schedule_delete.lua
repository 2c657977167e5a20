#!lua flags=allow-oom
-- schedule_delete: remove a recurring schedule and its cursor (jobs it created are left as they are).
--! keys: schedules schedule_cursors
-- K.schedules (hash)   K.schedule_cursors cursors (zset)
-- ARGV[1] name
-- Returns 1 if it existed, 0 if not.
redis.call('ZREM', K.schedule_cursors, ARGV[1])
return redis.call('HDEL', K.schedules, ARGV[1])
