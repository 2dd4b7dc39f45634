-- Spend the shared rate allowance (GCRA) of a batch of reports, in order, on a Redis Cluster:
-- there the client's rate-limit state has a hash tag of its own, in a slot apart from the
-- service's keys, so the counting script cannot spend it in its call. The arithmetic is
-- count.lua's spend_allowance, unchanged.
--
-- KEYS: the rate-limit states (one slot). ARGV[1] emission interval (ms per report),
-- ARGV[2] burst tolerance (ms: interval x (burst - 1)), then two values per report: now (ms,
-- from the injected clock) and the position in KEYS of its client's state.
-- Returns one number per report: 0 when it spent allowance, else the wait in ms (at least 1).
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local out = {}
for at = 3, #ARGV, 2 do
  local now = tonumber(ARGV[at])
  local rate = KEYS[tonumber(ARGV[at + 1])]
  -- Every report spends allowance, duplicates included, as in the in-process first line.
  local tat = tonumber(redis.call('GET', rate) or now)
  if tat < now then tat = now end
  if tat - now > tolerance then
    out[#out + 1] = tat - tolerance - now
  else
    local next_tat = tat + interval
    redis.call('SET', rate, next_tat, 'PX', math.max(1, next_tat - now))
    out[#out + 1] = 0
  end
end
return out
