#!lua flags=allow-oom
-- webhook_claim: take up to N webhook deliveries that are due, each for one attempt under a lease: the attempt's
-- fencing token in the job's webhook state, and the delivery's due time moved to the lease's end, so that a delivery
-- whose process died is taken again once its lease has passed (that attempt counts). A delivery that has used up its
-- attempts ends failed here. Runs under maxmemory (allow-oom): deliveries must drain.
--! keys: webhooks jobs results events
-- K.webhooks (zset id -> due ms)   K.jobs   K.results   K.events (channel)
-- ARGV[1] N   ARGV[2] lease (ms)   ARGV[3] salt of this claim   ARGV[4] most attempts   ARGV[5] worker id
-- Returns { id, token, attempt, record (JSON), result (JSON text or false), ... } for each delivery taken.
--#include clock.lua
--#include events.lua

local now = now_ms()
local taken = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', K.webhooks, '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))) do
  local raw = redis.call('HGET', K.jobs, id)
  local job = raw and cjson.decode(raw)
  local webhook = job and job.webhook
  if not webhook or webhook.status ~= 'pending' or not job.callback_url
      or (job.status ~= 'worked' and job.status ~= 'failed' and job.status ~= 'cancelled') then
    redis.call('ZREM', K.webhooks, id) -- the job is gone, its delivery ended, or it runs again
  elseif (webhook.attempts or 0) >= tonumber(ARGV[4]) then
    -- The last attempt's lease passed without an answer recorded: its process stopped mid-way.
    webhook.status = 'failed'
    webhook.token = nil
    webhook.next_attempt_at = nil
    webhook.last_error = webhook.last_error or 'the delivering process stopped before it recorded an answer'
    redis.call('ZREM', K.webhooks, id)
    redis.call('HSET', K.jobs, id, cjson.encode(job))
    announce(K.events, 'webhook.failed', id, job, now, { attempts = webhook.attempts })
  else
    webhook.attempts = (webhook.attempts or 0) + 1
    webhook.token = string.format('%d', webhook.attempts) .. '-' .. ARGV[3]
    webhook.worker = ARGV[5]
    webhook.next_attempt_at = nil
    webhook.attempted_at = now
    raw = cjson.encode(job)
    redis.call('HSET', K.jobs, id, raw)
    redis.call('ZADD', K.webhooks, now + tonumber(ARGV[2]), id)
    taken[#taken + 1] = id
    taken[#taken + 1] = webhook.token
    taken[#taken + 1] = webhook.attempts
    taken[#taken + 1] = raw
    taken[#taken + 1] = redis.call('HGET', K.results, id)
  end
end
return taken
