#!lua flags=allow-oom
-- claimed: the attempts that one claim (or lease) call started, for a worker whose call ran in Redis but whose answer
-- never came (a time-out, a connection lost on the way): it runs the jobs it holds the leases of, instead of leaving
-- them to lapse, each charged an attempt it never ran (and dead-lettered as stalled after enough such rounds).
-- claim.lua and lease.lua note the ids they took under the call's key, kept 10 minutes (deleted by a later call of the
-- same process once the answer came). Read-only.
--! keys: claim jobs payloads
-- K.claim the call's key (string: the ids it took)   K.jobs   K.payloads
-- ARGV[1] the call's salt (every token it gave ends with it)
-- Returns { id, lease token, record (JSON), data (JSON text), ... for each attempt of that call still under its lease }.

local found = {}
local taken = redis.call('GET', K.claim)
if not taken then
  return found
end
local ids = {}
for id in string.gmatch(taken, '%S+') do
  ids[#ids + 1] = id
end
local suffix = '-' .. ARGV[1]
local records = redis.call('HMGET', K.jobs, unpack(ids))
for n, id in ipairs(ids) do
  local raw = records[n]
  local job = raw and cjson.decode(raw)
  if job and job.status == 'working' and job.lease and string.sub(job.lease, -#suffix) == suffix then
    found[#found + 1] = id
    found[#found + 1] = job.lease
    found[#found + 1] = raw
    found[#found + 1] = redis.call('HGET', K.payloads, id) or 'null'
  end
end
return found
