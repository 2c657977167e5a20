#!lua flags=allow-oom
-- webhook_done: record the answer to the webhook attempt under `token`: delivered (the receiver answered 2xx), or
-- not, and then retried after `delay` or, after the last attempt, failed for good. Fenced: a stale attempt (its lease
-- passed and the delivery was taken again, or the job ended anew, or it is gone) changes nothing.
--! keys: webhooks jobs events
-- K.webhooks (zset id -> due ms)   K.jobs   K.events (channel)
-- ARGV[1] id   ARGV[2] token   ARGV[3] HTTP status of the answer (0: none)   ARGV[4] error ('' if delivered)
-- ARGV[5] '1' delivered, '0' not delivered, 'r' released: the attempt was cut short before any answer (its worker
-- stops), so it does not count and the delivery is due again now   ARGV[6] retry delay (ms)   ARGV[7] most attempts
-- Returns (the names of QueueOutcome, see WorkCluster.Queue/QueueOutcome.cs) 'delivered', 'retry_scheduled', 'failed', 'released', or 'stale'.
--#include clock.lua
--#include events.lua

local id = ARGV[1]
local raw = redis.call('HGET', K.jobs, id)
local job = raw and cjson.decode(raw)
local webhook = job and job.webhook
if not webhook or webhook.status ~= 'pending' or webhook.token ~= ARGV[2] then
  return 'stale'
end
local now = now_ms()
if ARGV[5] == 'r' then
  webhook.attempts = math.max((webhook.attempts or 1) - 1, 0)
  webhook.token = nil
  redis.call('HSET', K.jobs, id, cjson.encode(job))
  redis.call('ZADD', K.webhooks, now, id)
  return 'released'
end
local status = tonumber(ARGV[3])
webhook.last_status = status > 0 and status or nil
webhook.last_error = ARGV[4] ~= '' and ARGV[4] or nil
webhook.token = nil
local outcome
if ARGV[5] == '1' then
  outcome = 'delivered'
  webhook.status = 'delivered'
  webhook.delivered_at = now
  redis.call('ZREM', K.webhooks, id)
elseif webhook.attempts < tonumber(ARGV[7]) then
  outcome = 'retry_scheduled'
  webhook.next_attempt_at = now + tonumber(ARGV[6])
  redis.call('ZADD', K.webhooks, webhook.next_attempt_at, id)
else
  outcome = 'failed'
  webhook.status = 'failed'
  redis.call('ZREM', K.webhooks, id)
end
redis.call('HSET', K.jobs, id, cjson.encode(job))
if outcome ~= 'retry_scheduled' then
  announce(K.events, 'webhook.' .. outcome, id, job, now,
    { attempts = webhook.attempts, status = webhook.last_status })
end
return outcome
