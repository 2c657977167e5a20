-- One request against a caller's token bucket: refill by the time passed (Redis's clock), take one token if there is one.
--#include clock.lua
-- KEYS[1] the bucket (hash: tokens, at)
-- ARGV[1] tokens per second  ARGV[2] burst (the bucket's size)
-- Returns { allowed (1 or 0), tokens left (whole), ms until a token is there (0 when allowed), ms until the bucket is full }
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local now = now_ms()
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(state[1]), tonumber(state[2])
if not tokens or not at then
  tokens, at = burst, now
end
if now > at then
  tokens = math.min(burst, tokens + (now - at) * rate / 1000)
  at = now
end
local allowed, wait = 0, 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  wait = math.ceil((1 - tokens) * 1000 / rate)
end
local full = math.ceil((burst - tokens) * 1000 / rate)
if allowed == 1 then
  -- A refusal changes nothing: the refill goes on from the last token taken, so no rounding is ever lost.
  redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'at', string.format('%d', now))
  -- A bucket left alone refills: once full it says nothing a fresh one would not, so it goes.
  redis.call('PEXPIRE', KEYS[1], full + 1000)
end
return { allowed, math.floor(tokens), wait, full }
