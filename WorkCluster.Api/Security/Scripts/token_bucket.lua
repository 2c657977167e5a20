--! keys: ...buckets
-- Requests against callers' token buckets, in turn: refill each by the time passed (Redis's clock), take one token if
-- there is one. One call takes a batch of requests (group commit: an API replica sends the requests that arrived while
-- its previous call was on the way), each handled exactly as if it came alone; several may share a bucket.
--#include clock.lua
-- K.buckets[i] the i-th request's bucket (hash: tokens, at)
-- ARGV[2i-1] its tokens per second  ARGV[2i] its burst (the bucket's size)
-- Returns, for each request in turn, { allowed (1 or 0), tokens left (whole), ms until a token is there (0 when
-- allowed), ms until the bucket is full }, flattened.
local now = now_ms()
local replies = {}
for i, bucket in ipairs(K.buckets) do
  local rate, burst = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  local state = redis.call('HMGET', bucket, 'tokens', 'at')
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
    redis.call('HSET', bucket, 'tokens', string.format('%.17g', tokens), 'at', string.format('%d', now))
    -- A bucket left alone refills: once full it says nothing a fresh one would not, so it goes.
    redis.call('PEXPIRE', bucket, full + 1000)
  end
  local n = #replies
  replies[n + 1], replies[n + 2], replies[n + 3], replies[n + 4] = allowed, math.floor(tokens), wait, full
end
return replies
