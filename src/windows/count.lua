-- Count a batch of reports, in order, each at most once per reporter per service per dedup
-- window; with limits, each only while its client address and network are under their caps for
-- the service, and while the client's shared rate (GCRA) has room, whichever instance it reached.
--
-- ARGV[1] dedup window (ms, also the length of a dedup epoch)  ARGV[2] bucket retention (s)
-- ARGV[3] cap window (ms)  ARGV[4] address cap  ARGV[5] network cap
-- ARGV[6] emission interval (ms per report)  ARGV[7] burst tolerance (ms: interval x (burst - 1))
-- then ten values per report: now (ms, from the injected clock), reporter key (14 bytes),
-- problem kind, country or '', and the positions in KEYS of its minute bucket, its dedup epoch's
-- hash, the previous epoch's hash, its address log, its network log and its rate-limit state
-- (the last three 0 for a report without limits). Keys appear once in KEYS however many reports
-- use them. Every key but the rate-limit state carries the service's hash tag; the rate-limit
-- state is the client's, with a hash tag of its own: on a Redis Cluster it is spent before, by
-- rate.lua in a call on its own slot, and its position here is 0.
--
-- A dedup hash holds the reporters counted in one epoch (field: reporter key; value: when, as
-- ms since the epoch began, 4 bytes little-endian). Every report of the last window was counted
-- in the current epoch or the one before, so those two hashes answer "counted within the
-- window?" exactly, across epoch boundaries.
--
-- Returns two numbers per report: {1, 0} counted, {0, 0} duplicate, {2, wait ms} the address is at
-- its cap, {3, wait ms} the network is, {4, wait ms} the client is over its rate.
local window = tonumber(ARGV[1])
local retention = ARGV[2]
local cap_window = tonumber(ARGV[3])
local caps = {tonumber(ARGV[4]), tonumber(ARGV[5])}
local interval = tonumber(ARGV[6])
local tolerance = tonumber(ARGV[7])
local FIRST, PER_REPORT = 8, 10

-- Keys whose expiry this call has already set (once per call is enough).
local expiring = {}
local function expire_once(key, command, ttl)
  if not expiring[key] then
    expiring[key] = true
    redis.call(command, key, ttl)
  end
end

local function spend_allowance(rate, now)
  -- Every report spends allowance, duplicates included, as in the in-process first line.
  local tat = tonumber(redis.call('GET', rate) or now)
  if tat < now then tat = now end
  if tat - now > tolerance then
    return tat - tolerance - now
  end
  local next_tat = tat + interval
  redis.call('SET', rate, next_tat, 'PX', math.max(1, next_tat - now))
  return nil
end

local function counted_before(current, previous, reporter, now, epoch_start)
  if redis.call('HEXISTS', current, reporter) == 1 then
    return true
  end
  local at = redis.call('HGET', previous, reporter)
  return at and now - (epoch_start - window + struct.unpack('<I4', at)) < window
end

local function count(at)
  local now = tonumber(ARGV[at])
  local reporter, problem, country = ARGV[at + 1], ARGV[at + 2], ARGV[at + 3]
  local bucket, current, previous = KEYS[tonumber(ARGV[at + 4])], KEYS[tonumber(ARGV[at + 5])],
    KEYS[tonumber(ARGV[at + 6])]
  local logs = {KEYS[tonumber(ARGV[at + 7])], KEYS[tonumber(ARGV[at + 8])]}
  local rate = KEYS[tonumber(ARGV[at + 9])]

  if rate then
    local wait = spend_allowance(rate, now)
    if wait then return 4, wait end
  end
  local epoch_start = now - now % window
  if counted_before(current, previous, reporter, now, epoch_start) then
    return 0, 0
  end
  if logs[1] then
    for i = 1, 2 do
      redis.call('ZREMRANGEBYSCORE', logs[i], '-inf', now - cap_window)
      if redis.call('ZCARD', logs[i]) >= caps[i] then
        local oldest = redis.call('ZRANGE', logs[i], 0, 0, 'WITHSCORES')
        return i + 1, tonumber(oldest[2]) + cap_window - now
      end
    end
  end
  -- The count first, then what remembers it: if a command fails, the script stops there
  -- (Redis does not undo a script's earlier writes), and a report must never be remembered as
  -- counted without being counted, or its retry would be called a duplicate and lost.
  redis.call('HINCRBY', bucket, 't', 1)
  redis.call('HINCRBY', bucket, 'p:' .. problem, 1)
  if country ~= '' then
    redis.call('HINCRBY', bucket, 'c:' .. country, 1)
  end
  expire_once(bucket, 'EXPIRE', retention)
  redis.call('HSET', current, reporter, struct.pack('<I4', now - epoch_start))
  -- The epoch's hash is needed until the next epoch ends.
  expire_once(current, 'PEXPIRE', epoch_start + 2 * window - now)
  if logs[1] then
    for i = 1, 2 do
      -- One member per counted report: its time and reporter.
      redis.call('ZADD', logs[i], now, now .. reporter)
      redis.call('PEXPIRE', logs[i], cap_window)
    end
  end
  return 1, 0
end

local out = {}
for at = FIRST, #ARGV, PER_REPORT do
  local code, wait = count(at)
  out[#out + 1] = code
  out[#out + 1] = wait
end
return out
