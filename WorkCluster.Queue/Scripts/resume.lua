#!lua flags=allow-oom
-- resume: workers claim again; a wake-up token gets the idle ones going if work is waiting.
--! keys: paused ready signal
-- K.paused flag   K.ready (zset)   K.signal
--#include signal.lua

redis.call('DEL', K.paused)
pass_signal(K.ready, K.signal)
return 1
