#!lua flags=allow-oom
-- resume: workers claim again; a wake-up token gets the idle ones going if work is waiting.
-- KEYS[1] paused flag   KEYS[2] ready (zset)   KEYS[3] signal
--#include signal.lua

redis.call('DEL', KEYS[1])
pass_signal(KEYS[2], KEYS[3])
return 1
