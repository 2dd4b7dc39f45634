-- Count a batch of reports, in order, each at most once per reporter per service per dedup
-- window; with limits, each only while its client address and network are under their caps for
-- the service, and while the client's shared rate (GCRA) has room, whichever instance it reached.
--
-- ARGV[1] dedup window (ms, also the length of a dedup epoch)  ARGV[2] bucket retention (s)
-- ARGV[3] cap window (ms, also the length of a cap epoch)  ARGV[4] address cap
-- ARGV[5] network cap  ARGV[6] emission interval (ms per report)
-- ARGV[7] burst tolerance (ms: interval x (burst - 1))
-- then six values per report: its numbers, packed (little-endian: now in ms from the injected
-- clock, 8 bytes signed, then 2 bytes each, the positions in KEYS of its bucket pair, its
-- minute's own bucket (see keys.rs: the pair holds the minute unless its new fields would take
-- the pair past LISTPACK_ENTRIES), its dedup epoch's hash, the previous dedup epoch's hash (each
-- with its legacy twin at the next position, see below), its cap epoch's hash, the previous cap
-- epoch's hash and its rate-limit state), its reporter key (14 bytes), problem kind, country or
-- '', then its address's and its network's fields in the cap hashes (the positions 0 and the
-- fields '' for a report without limits). Numbers come packed because Lua turns a number's
-- text into a number with strtod, which cost Redis more than the rest of reading a report. Keys
-- appear once in KEYS however many reports use them. Every key but the rate-limit state
-- carries the service's hash tag; the rate-limit state is the client's, with a hash tag of its
-- own: on a Redis Cluster it is spent before, by rate.lua in a call on its own slot, and its
-- position here is 0.
--
-- A dedup hash holds the reporters counted in one epoch, an entry each: the field is the
-- reporter key's first 6 bytes, the value when it was counted (ms since the epoch began, 4 bytes
-- little-endian) then the key's next 2 bytes, so an entry fits Redis's smallest allocations and
-- 64 bits of the key tell reporters apart. A reporter whose 6 bytes another already holds in
-- the hash is stored under its whole key (14 bytes) with the time alone. Every report of the
-- last window was counted in the current epoch or the one before, so those two hashes answer
-- "counted within the window?" exactly, across epoch boundaries. A cap hash does the same for
-- the caps: one field per address ('a' and its key) and per network ('n' and its key) that had
-- reports counted in the cap epoch, holding their times (4 bytes each, ms since the epoch began;
-- at most the cap's latest, all a full cap needs), so a source costs a field, not a key of its
-- own.
--
-- Each dedup hash's position in KEYS is followed by its legacy twin's: the hash of the same
-- epoch as versions before 2026-12 wrote it (`:d:`, whole keys as fields). It is read while it
-- exists, so once every instance runs this version nobody counted before the upgrade is counted
-- again. During a rolling upgrade the old instances do not read these hashes (a reporter whose
-- reports reach both kinds may be counted twice in that window), and a rollback forgets them.
--
-- The script decides every report first (reads, and what this batch has decided so far), then
-- writes: the counts, summed per minute and field, before what remembers them (the dedup
-- entries and the cap times, one HSET per hash; the rate-limit states). Every key is read or its
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
local FIRST, PER_REPORT = 8, 6
local SHORT, CHECKED = 6, 8  -- a reporter's short field, and the key bytes an entry checks
local sub, pack, unpack_struct = string.sub, struct.pack, struct.unpack

-- What this batch has decided, before any of it is written. Tables per key are nested (key,
-- then field or reporter) rather than keyed by joined strings: Lua hashes every new string.
local arrivals = {}  -- rate-limit key -> {tat = theoretical arrival time (ms), now = latest}
local counted_at = {}  -- dedup hash -> reporter -> when this batch counted the reporter in it
local sources = {}  -- cap hash -> field -> {times = counted (ms), in order, added = true}
local sources_in = {}  -- cap hash -> its sources this batch counted in, in order
local cap_hash_now = {}  -- cap hash -> the latest report this batch counted in it (ms)
local counted = {}  -- the reports to count, in order
local holders = {}  -- dedup hash -> short field -> the reporter this batch stores under it
local short_taken = {}  -- dedup hash -> reporter -> its short field is another reporter's
local present = {}  -- legacy dedup hash -> whether it exists

-- t[key], made an empty table if there is none.
local function within(t, key)
  local inner = t[key]
  if not inner then
    inner = {}
    t[key] = inner
  end
  return inner
end

-- One report's arguments from ARGV[at], its keys looked up.
local function report_at(at)
  local now, pair, own, current, previous, caps_now, caps_before, rate =
    unpack_struct('<i8HHHHHHH', ARGV[at])
  local reporter = ARGV[at + 1]
  return {
    now = now, reporter = reporter,
    short = sub(reporter, 1, SHORT), check = sub(reporter, SHORT + 1, CHECKED),
    problem = ARGV[at + 2], country = ARGV[at + 3],
    pair = KEYS[pair], own = KEYS[own], current = KEYS[current], previous = KEYS[previous],
    current_twin = KEYS[current + 1], previous_twin = KEYS[previous + 1],
    caps_now = KEYS[caps_now], caps_before = KEYS[caps_before], rate = KEYS[rate],
    address = ARGV[at + 4], network = ARGV[at + 5],
  }
end

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

-- When `report`'s reporter was counted in the dedup hash `hash` (ms into its epoch), or nil;
-- then whether its short field is held by another reporter.
local function entry(hash, report)
  local value = redis.call('HGET', hash, report.short)
  if not value then return nil, false end
  if sub(value, 5) == report.check then
    return unpack_struct('<I4', value), false
  end
  local whole = redis.call('HGET', hash, report.reporter)
  if whole then return unpack_struct('<I4', whole), true end
  return nil, true
end

-- When `reporter` was counted in the legacy twin of a dedup hash (ms into its epoch), or nil.
local function legacy_entry(hash, reporter)
  if present[hash] == nil then present[hash] = redis.call('EXISTS', hash) == 1 end
  local whole = present[hash] and redis.call('HGET', hash, reporter)
  if whole then return unpack_struct('<I4', whole) end
  return nil
end

local function counted_before(report, epoch_start)
  local reporter, now = report.reporter, report.now
  local mine = counted_at[report.current]
  mine = mine and mine[reporter]
  if mine then
    return now - mine < window
  end
  local earlier = counted_at[report.previous]
  earlier = earlier and earlier[reporter]
  if earlier and now - earlier < window then
    return true
  end
  -- The current hash is read even when this batch decided the reporter in the previous one:
  -- where the reporter's short field goes depends on it, and so does the type check.
  local here, taken = entry(report.current, report)
  if here or legacy_entry(report.current_twin, reporter) then
    return true
  end
  within(short_taken, report.current)[reporter] = taken
  if earlier then
    return false
  end
  local before = entry(report.previous, report) or legacy_entry(report.previous_twin, reporter)
  return before ~= nil and now - (epoch_start - window + before) < window
end

-- Adds to `times` those of `field` in the cap hash `hash` of the epoch from `start`: what this
-- batch decided there, else what was stored.
local function read_times(times, hash, field, start)
  local decided = sources[hash]
  decided = decided and decided[field]
  if decided then
    for _, t in ipairs(decided.times) do times[#times + 1] = t end
    return
  end
  local packed = redis.call('HGET', hash, field)
  if packed then
    for i = 1, #packed, 4 do times[#times + 1] = start + unpack_struct('<I4', packed, i) end
  end
end

-- The times a source (an address or a network) had reports counted at within the cap window
-- that ends at `now`, as known from its field in the current and the previous cap epoch's
-- hashes plus what this batch has decided.
local function source(current, previous, field, now, epoch_start)
  local decided = within(sources, current)
  local known = decided[field]
  if not known then
    local times = {}
    read_times(times, previous, field, epoch_start - cap_window)
    read_times(times, current, field, epoch_start)
    known = {times = times, field = field, epoch_start = epoch_start}
    decided[field] = known
  end
  local times, oldest = known.times, now - cap_window
  for i = #times, 1, -1 do
    if times[i] <= oldest then table.remove(times, i) end
  end
  return known
end

-- The wait until a source at its cap has room, or nil when it has room now.
local function cap_wait(known, cap, now)
  local times = known.times
  if #times < cap then return nil end
  local oldest = times[1]
  for _, t in ipairs(times) do
    if t < oldest then oldest = t end
  end
  return oldest + cap_window - now
end

-- Adds `now` to a source's times, and the source to those its cap hash is written with.
local function remember(known, hash, now)
  local times = known.times
  times[#times + 1] = now
  if not known.added then
    known.added = true
    local fields = within(sources_in, hash)
    fields[#fields + 1] = known
  end
end

local function decide(report)
  local now = report.now
  if report.rate then
    local wait = spend_allowance(report.rate, now)
    if wait then return 4, wait end
  end
  local epoch_start = now - now % window
  if counted_before(report, epoch_start) then
    return 0, 0
  end
  local caps_now = report.caps_now
  if caps_now then
    local cap_start = now - now % cap_window
    local address = source(caps_now, report.caps_before, report.address, now, cap_start)
    local wait = cap_wait(address, caps[1], now)
    if wait then return 2, wait end
    local network = source(caps_now, report.caps_before, report.network, now, cap_start)
    wait = cap_wait(network, caps[2], now)
    if wait then return 3, wait end
    remember(address, caps_now, now)
    remember(network, caps_now, now)
    cap_hash_now[caps_now] = math.max(cap_hash_now[caps_now] or now, now)
  end
  within(counted_at, report.current)[report.reporter] = now
  report.offset = now - epoch_start
  counted[#counted + 1] = report
  return 1, 0
end

local out = {}
for at = FIRST, #ARGV, PER_REPORT do
  local code, wait = decide(report_at(at))
  out[#out + 1] = code
  out[#out + 1] = wait
end

-- The counts, summed per minute and field. Every other key was read above (a key of the wrong
-- type fails the call there); the buckets are checked before anything is written, so a call
-- fails whole or not at all.
local LISTPACK_ENTRIES = 128  -- Redis's default hash-max-listpack-entries
-- A service's minute (its own bucket's key) -> {pair, own, mark, fields = field -> count},
-- then the bucket it is written to
local minutes, by_minute = {}, {}
local function add(report, field)
  local counts = by_minute[report.own]
  if not counts then
    local minute = math.floor(report.now / 60000)
    counts = {pair = report.pair, own = report.own, mark = minute % 2 == 1 and '+' or '',
              fields = {}}
    by_minute[report.own] = counts
    minutes[#minutes + 1] = counts
  end
  counts.fields[field] = (counts.fields[field] or 0) + 1
end
for _, report in ipairs(counted) do
  add(report, 't')
  -- Bare field names (see keys.rs): a problem kind is lower-case, a country two upper-case
  -- letters; only a kind named 't' would meet the total, and it keeps the old 'p:' form.
  add(report, report.problem == 't' and 'p:t' or report.problem)
  if report.country ~= '' then add(report, report.country) end
end
-- Where each minute goes, decided before anything is written, and only that bucket's type
-- checked: its pair, or its own bucket when its new fields would take the pair past a listpack.
local function check_type(bucket)
  local kind = redis.call('TYPE', bucket).ok
  if kind ~= 'hash' and kind ~= 'none' then
    return redis.error_reply('WRONGTYPE the minute bucket ' .. bucket .. ' is a ' .. kind)
  end
end
local widths = {}  -- pair -> its fields, with those this call adds
for _, counts in ipairs(minutes) do
  local pair = counts.pair
  local wrong = check_type(pair)
  if wrong then return wrong end
  widths[pair] = widths[pair] or redis.call('HLEN', pair)
  -- The fields the pair does not hold yet (the two minutes' fields never meet: their marks
  -- differ).
  local names = {}
  for field in pairs(counts.fields) do names[#names + 1] = counts.mark .. field end
  local held = redis.call('HMGET', pair, unpack(names))
  local new = 0
  for i = 1, #names do
    if not held[i] then new = new + 1 end
  end
  if widths[pair] + new > LISTPACK_ENTRIES then
    counts.bucket, counts.mark = counts.own, ''
    wrong = check_type(counts.own)
    if wrong then return wrong end
  else
    counts.bucket = pair
    widths[pair] = widths[pair] + new
  end
end
for _, counts in ipairs(minutes) do
  for field, n in pairs(counts.fields) do
    redis.call('HINCRBY', counts.bucket, counts.mark .. field, n)
  end
  redis.call('EXPIRE', counts.bucket, retention)
end

-- Then what remembers them: the dedup entries, one HSET per hash...
local entries, hashes = {}, {}
for _, report in ipairs(counted) do
  local hash = report.current
  local fields = entries[hash]
  if not fields then
    fields = {}
    entries[hash] = fields
    hashes[#hashes + 1] = report
  end
  local time = pack('<I4', report.offset)
  local holding = within(holders, hash)
  local holder = holding[report.short]
  local taken = short_taken[hash]
  if (taken and taken[report.reporter]) or (holder and holder ~= report.reporter) then
    fields[#fields + 1] = report.reporter
    fields[#fields + 1] = time
  else
    holding[report.short] = report.reporter
    fields[#fields + 1] = report.short
    fields[#fields + 1] = time .. report.check
  end
end
for _, first in ipairs(hashes) do
  redis.call('HSET', first.current, unpack(entries[first.current]))
  -- The epoch's hash is needed until the next epoch ends.
  redis.call('PEXPIRE', first.current, 2 * window - first.offset)
end
-- ...the cap times (per source: its times in this cap epoch, the cap's latest at most)...
for hash, fields in pairs(sources_in) do
  local values = {}
  local epoch_start
  for _, known in ipairs(fields) do
    epoch_start = known.epoch_start
    local times = {}
    for _, t in ipairs(known.times) do
      if t >= epoch_start then times[#times + 1] = t end
    end
    local packed
    if #times == 1 then
      packed = pack('<I4', times[1] - epoch_start)
    else
      table.sort(times)
      local cap = string.byte(known.field) == 97 and caps[1] or caps[2]  -- 'a' or 'n'
      local parts = {}
      for i = math.max(1, #times - cap + 1), #times do
        parts[#parts + 1] = pack('<I4', times[i] - epoch_start)
      end
      packed = table.concat(parts)
    end
    values[#values + 1] = known.field
    values[#values + 1] = packed
  end
  redis.call('HSET', hash, unpack(values))
  -- Needed until the next cap epoch ends (from this batch's latest report).
  redis.call('PEXPIRE', hash, math.max(1, epoch_start + 2 * cap_window - cap_hash_now[hash]))
end
-- ...and the rate-limit states.
for rate, state in pairs(arrivals) do
  redis.call('SET', rate, state.tat, 'PX', math.max(1, state.tat - state.now))
end
return out
