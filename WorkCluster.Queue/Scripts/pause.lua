#!lua flags=allow-oom
-- pause: workers stop claiming (submissions stay open; jobs in flight finish).
-- KEYS[1] paused flag
redis.call('SET', KEYS[1], '1')
return 1
