#!lua flags=allow-oom
-- pause: workers stop claiming (submissions stay open; jobs in flight finish).
--! keys: paused
-- K.paused flag
redis.call('SET', K.paused, '1')
return 1
