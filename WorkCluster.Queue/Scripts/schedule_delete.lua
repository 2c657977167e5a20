#!lua flags=allow-oom
-- schedule_delete: remove a recurring schedule and its cursor (jobs it created are left as they are).
-- KEYS[1] schedules (hash)   KEYS[2] cursors (zset)
-- ARGV[1] name
-- Returns 1 if it existed, 0 if not.
redis.call('ZREM', KEYS[2], ARGV[1])
return redis.call('HDEL', KEYS[1], ARGV[1])
