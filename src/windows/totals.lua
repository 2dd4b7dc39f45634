-- The reports counted in each minute of a range of one service, in one call: a command per
-- bucket cost the reader more than the read (see `Windows::totals_many`).
-- KEYS: the minutes' own buckets, oldest first (ARGV[1] of them), then the bucket pairs they
-- span, oldest first. ARGV[2]: 1 when the first minute is the odd one of its pair, else 0.
-- ARGV[3]: the total's field ('t'); the odd minute's is marked with '+' in its pair.
-- Returns one total per minute: its own bucket's plus its field in its pair.
local minutes = tonumber(ARGV[1])
local offset = tonumber(ARGV[2])
local total = ARGV[3]
local marked = '+' .. total
-- A minute has a bucket of its own only when it was too wide for its pair (or counted by a
-- version before pairs): one EXISTS over them all spares a lookup per minute.
local any_own = redis.call('EXISTS', unpack(KEYS, 1, minutes)) > 0
local totals = {}
local pair = nil
for i = 1, minutes do
  local slot = i - 1 + offset
  if i == 1 or slot % 2 == 0 then
    pair = redis.call('HMGET', KEYS[minutes + 1 + math.floor(slot / 2)], total, marked)
  end
  local own = any_own and tonumber(redis.call('HGET', KEYS[i], total)) or 0
  totals[i] = own + (tonumber(pair[slot % 2 + 1]) or 0)
end
return totals
