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
-- The script decides every report first (reads, and what this batch has decided so far), then
-- writes: the counts, summed per bucket and field, before what remembers them (the dedup
-- entries, one HSET per hash; the cap logs; the rate-limit states). Every key is read or its
-- type checked before the first write, so a key of the wrong type fails the call before it
-- writes anything. Were a command to fail midway all the same, Redis would keep what ran before
-- it: the counts come first because a report must never be remembered as counted without being
-- counted (its retry would be called a duplicate and lost).
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

-- What this batch has decided, before any of it is written.
local arrivals = {}  -- rate-limit key -> {tat = theoretical arrival time (ms), now = latest}
local counted_at = {}  -- dedup hash .. reporter -> when this batch counted the reporter in it
local logged = {}  -- cap log -> {n = entries within the window, first = this batch's first}
local counted = {}  -- the reports to count, in order

local function spend_allowance(rate, now)
  -- Every report spends allowance, duplicates included, as in the in-process first line.
  local known = arrivals[rate]
  local tat = known and known.tat or tonumber(redis.call('GET', rate) or now)
  if tat < now then tat = now end
  if tat - now > tolerance then
    arrivals[rate] = {tat = tat, now = now}
    return tat - tolerance - now
  end
  arrivals[rate] = {tat = tat + interval, now = now}
  return nil
end

local function counted_before(current, previous, reporter, now, epoch_start)
  local earlier = counted_at[current .. reporter] or counted_at[previous .. reporter]
  if earlier then
    return now - earlier < window
  end
  if redis.call('HEXISTS', current, reporter) == 1 then
    return true
  end
  local at = redis.call('HGET', previous, reporter)
  return at and now - (epoch_start - window + struct.unpack('<I4', at)) < window
end

-- The wait until a full cap log has room, or nil when it has room now.
local function cap_wait(log, cap, now)
  local entry = logged[log]
  if not entry then
    entry = {n = redis.call('ZCARD', log)}
    logged[log] = entry
  end
  if entry.n < cap then return nil end
  -- Only a full log needs its old entries dropped (and recounted).
  redis.call('ZREMRANGEBYSCORE', log, '-inf', now - cap_window)
  entry.n = redis.call('ZCARD', log) + (entry.added or 0)
  if entry.n < cap then return nil end
  local oldest = redis.call('ZRANGE', log, 0, 0, 'WITHSCORES')
  local since = oldest[2] and tonumber(oldest[2]) or entry.first
  return since + cap_window - now
end

local function decide(at)
  local now = tonumber(ARGV[at])
  local reporter = ARGV[at + 1]
  local current, previous = KEYS[tonumber(ARGV[at + 5])], KEYS[tonumber(ARGV[at + 6])]
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
      local wait = cap_wait(logs[i], caps[i], now)
      if wait then return i + 1, wait end
    end
    for i = 1, 2 do
      local entry = logged[logs[i]]
      entry.n = entry.n + 1
      entry.added = (entry.added or 0) + 1
      entry.first = entry.first or now
    end
  end
  counted_at[current .. reporter] = now
  counted[#counted + 1] = {
    now = now, reporter = reporter, current = current, offset = now - epoch_start,
    bucket = KEYS[tonumber(ARGV[at + 4])], problem = ARGV[at + 2], country = ARGV[at + 3],
    logs = logs[1] and logs,
  }
  return 1, 0
end

local out = {}
for at = FIRST, #ARGV, PER_REPORT do
  local code, wait = decide(at)
  out[#out + 1] = code
  out[#out + 1] = wait
end

-- The counts, summed per bucket and field. Every other key was read above (a key of the wrong
-- type fails the call there); a bucket is checked before anything is written, so a call fails
-- whole or not at all.
local sums, buckets = {}, {}
local function add(bucket, field)
  local fields = sums[bucket]
  if not fields then
    fields = {}
    sums[bucket] = fields
    buckets[#buckets + 1] = bucket
  end
  fields[field] = (fields[field] or 0) + 1
end
for _, report in ipairs(counted) do
  add(report.bucket, 't')
  add(report.bucket, 'p:' .. report.problem)
  if report.country ~= '' then add(report.bucket, 'c:' .. report.country) end
end
for _, bucket in ipairs(buckets) do
  local kind = redis.call('TYPE', bucket).ok
  if kind ~= 'hash' and kind ~= 'none' then
    return redis.error_reply('WRONGTYPE the minute bucket ' .. bucket .. ' is a ' .. kind)
  end
end
for _, bucket in ipairs(buckets) do
  for field, n in pairs(sums[bucket]) do
    redis.call('HINCRBY', bucket, field, n)
  end
  redis.call('EXPIRE', bucket, retention)
end

-- Then what remembers them: the dedup entries, one HSET per hash...
local entries, hashes = {}, {}
for _, report in ipairs(counted) do
  local fields = entries[report.current]
  if not fields then
    fields = {}
    entries[report.current] = fields
    hashes[#hashes + 1] = report
  end
  fields[#fields + 1] = report.reporter
  fields[#fields + 1] = struct.pack('<I4', report.offset)
end
for _, first in ipairs(hashes) do
  redis.call('HSET', first.current, unpack(entries[first.current]))
  -- The epoch's hash is needed until the next epoch ends.
  redis.call('PEXPIRE', first.current, 2 * window - first.offset)
end
-- ...the cap logs (one member per counted report: its time and reporter)...
for _, report in ipairs(counted) do
  if report.logs then
    for i = 1, 2 do
      redis.call('ZADD', report.logs[i], report.now, report.now .. report.reporter)
    end
  end
end
for log in pairs(logged) do
  if logged[log].added then redis.call('PEXPIRE', log, cap_window) end
end
-- ...and the rate-limit states.
for rate, state in pairs(arrivals) do
  redis.call('SET', rate, state.tat, 'PX', math.max(1, state.tat - state.now))
end
return out
