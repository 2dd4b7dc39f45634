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
-- entries and the cap times, one HSET per hash; the rate-limit states). It is written for the
-- cost of Lua in Redis, which was most of a report's: no table per report (each decision adds
-- straight to what will be written), a source's two cap fields read from each cap hash in one
-- HMGET, and per-key state in flat tables keyed by the key. Every key is read or its
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
local address_cap, network_cap = tonumber(ARGV[4]), tonumber(ARGV[5])
local interval = tonumber(ARGV[6])
local tolerance = tonumber(ARGV[7])
local FIRST, PER_REPORT = 8, 6
local SHORT, CHECKED = 6, 8  -- a reporter's short field, and the key bytes an entry checks
local call, sub, pack, unpack_struct = redis.call, string.sub, struct.pack, struct.unpack
local floor, max = math.floor, math.max

-- What this batch has decided, before any of it is written. Tables per key are nested (key,
-- then field or reporter) rather than keyed by joined strings: Lua hashes every new string.
local tats, tats_now = {}, {}  -- rate-limit key -> theoretical arrival time (ms), its latest report
local counted_at = {}  -- dedup hash -> reporter -> when this batch counted the reporter in it
local holders = {}  -- dedup hash -> short field -> the reporter this batch stores under it
local present = {}  -- legacy dedup hash -> whether it exists
-- cap hash -> field -> the source: its times counted within the cap window (ms, in order, the
-- array part), its field, the start of its hash's epoch and whether this batch counted it
local sources = {}
local sources_in = {}  -- cap hash -> the sources this batch counted in it, in order
local cap_hash_now = {}  -- cap hash -> the latest report this batch counted in it (ms)
-- The writes, as decided: a service's minute (its own bucket's key) -> {pair, own, mark,
-- fields = field -> count}, the minutes in order; dedup hash -> its fields and values, the
-- hashes in order and the offset of the first report counted in each.
local by_minute, minutes = {}, {}
local entries, dedup_hashes, first_offset = {}, {}, {}

-- t[key], made an empty table if there is none.
local function within(t, key)
  local inner = t[key]
  if not inner then
    inner = {}
    t[key] = inner
  end
  return inner
end

-- Spends a report's allowance of its client's shared rate; the wait when there is none.
local function spend_allowance(rate, now)
  -- Every report spends allowance, duplicates included, as in the in-process first line.
  local tat = tats[rate] or tonumber(call('GET', rate) or now)
  if tat < now then tat = now end
  tats_now[rate] = now
  if tat - now > tolerance then
    tats[rate] = tat
    return tat - tolerance - now
  end
  tats[rate] = tat + interval
  return nil
end

-- When the reporter (`short` and `check` its short field and checked bytes) was counted in the
-- dedup hash `hash` (ms into its epoch), or nil; then whether its short field is held by
-- another reporter.
local function entry(hash, reporter, short, check)
  local value = call('HGET', hash, short)
  if not value then return nil, false end
  if sub(value, 5) == check then
    return unpack_struct('<I4', value), false
  end
  local whole = call('HGET', hash, reporter)
  if whole then return unpack_struct('<I4', whole), true end
  return nil, true
end

-- When `reporter` was counted in the legacy twin of a dedup hash (ms into its epoch), or nil.
local function legacy_entry(hash, reporter)
  if present[hash] == nil then present[hash] = call('EXISTS', hash) == 1 end
  local whole = present[hash] and call('HGET', hash, reporter)
  if whole then return unpack_struct('<I4', whole) end
  return nil
end

-- Whether the reporter was counted within the window that ends at `now`, in this batch or
-- before it; then whether its short field is another reporter's in the current hash.
local function counted_before(reporter, short, check, now, epoch_start, current, previous,
                              current_twin, previous_twin)
  local mine = counted_at[current]
  mine = mine and mine[reporter]
  if mine then
    return now - mine < window, false
  end
  local earlier = counted_at[previous]
  earlier = earlier and earlier[reporter]
  if earlier and now - earlier < window then
    return true, false
  end
  -- The current hash is read even when this batch decided the reporter in the previous one:
  -- where the reporter's short field goes depends on it, and so does the type check.
  local here, taken = entry(current, reporter, short, check)
  if here or legacy_entry(current_twin, reporter) then
    return true, taken
  end
  if earlier then
    return false, taken
  end
  local before = entry(previous, reporter, short, check) or legacy_entry(previous_twin, reporter)
  return before ~= nil and now - (epoch_start - window + before) < window, taken
end

-- Adds to `known` the times of `field` in the cap hash `hash` of the epoch from `start`: what
-- this batch decided there, else `packed`, what was stored.
local function add_times(known, hash, field, start, packed)
  local decided = sources[hash]
  decided = decided and decided[field]
  if decided then
    for i = 1, #decided do known[#known + 1] = decided[i] end
    return
  end
  if packed then
    for i = 1, #packed, 4 do known[#known + 1] = start + unpack_struct('<I4', packed, i) end
  end
end

-- A source (an address or a network) as this batch knows it: made, when it does not yet, from
-- its field in the previous and the current cap epoch's hashes (`before` and `stored`).
local function new_source(current, previous, field, epoch_start, before, stored)
  local known = {field = field, epoch_start = epoch_start}
  add_times(known, previous, field, epoch_start - cap_window, before)
  add_times(known, current, field, epoch_start, stored)
  return known
end

-- The wait until a source at `cap` has room at `now`, or nil when it has room now; its times
-- outside the cap window dropped first.
local function cap_wait(known, cap, now)
  local oldest = now - cap_window
  for i = #known, 1, -1 do
    if known[i] <= oldest then table.remove(known, i) end
  end
  local n = #known
  if n < cap then return nil end
  local first = known[1]
  for i = 2, n do
    if known[i] < first then first = known[i] end
  end
  return first + cap_window - now
end

-- Adds `now` to a source's times, and the source to those its cap hash is written with.
local function remember(known, hash, now)
  known[#known + 1] = now
  if not known.added then
    known.added = true
    local fields = within(sources_in, hash)
    fields[#fields + 1] = known
  end
end

-- Whether a report from `address` and `network` is over a cap: nil when both have room (and
-- the report is remembered in both), else the answer's code and the wait.
local function over_a_cap(caps_now, caps_before, address, network, now)
  local decided = within(sources, caps_now)
  local from_address, from_network = decided[address], decided[network]
  local cap_start = now - now % cap_window
  if not (from_address and from_network) then
    local before = call('HMGET', caps_before, address, network)
    local stored = call('HMGET', caps_now, address, network)
    if not from_address then
      from_address = new_source(caps_now, caps_before, address, cap_start, before[1], stored[1])
      decided[address] = from_address
    end
    if not from_network then
      from_network = new_source(caps_now, caps_before, network, cap_start, before[2], stored[2])
      decided[network] = from_network
    end
  end
  local wait = cap_wait(from_address, address_cap, now)
  if wait then return 2, wait end
  wait = cap_wait(from_network, network_cap, now)
  if wait then return 3, wait end
  remember(from_address, caps_now, now)
  remember(from_network, caps_now, now)
  cap_hash_now[caps_now] = max(cap_hash_now[caps_now] or now, now)
  return nil
end

-- Adds a counted report to its minute's counts (bare field names, see keys.rs: a problem kind
-- is lower-case, a country two upper-case letters; only a kind named 't' would meet the total,
-- and it keeps the old 'p:' form).
local function count_minute(pair, own, now, problem, country)
  local counts = by_minute[own]
  if not counts then
    local minute = floor(now / 60000)
    counts = {pair = pair, own = own, mark = minute % 2 == 1 and '+' or '', fields = {}}
    by_minute[own] = counts
    minutes[#minutes + 1] = counts
  end
  local fields = counts.fields
  fields.t = (fields.t or 0) + 1
  if problem == 't' then problem = 'p:t' end
  fields[problem] = (fields[problem] or 0) + 1
  if country ~= '' then fields[country] = (fields[country] or 0) + 1 end
end

-- Adds a counted reporter's dedup entry to those its hash is written with: under its short
-- field, unless another reporter holds that field (stored, or earlier in this batch).
local function remember_reporter(hash, reporter, short, check, offset, taken)
  local fields = entries[hash]
  if not fields then
    fields = {}
    entries[hash] = fields
    dedup_hashes[#dedup_hashes + 1] = hash
    first_offset[hash] = offset
  end
  local time = pack('<I4', offset)
  local holding = within(holders, hash)
  local holder = holding[short]
  local n = #fields
  if taken or (holder and holder ~= reporter) then
    fields[n + 1] = reporter
    fields[n + 2] = time
  else
    holding[short] = reporter
    fields[n + 1] = short
    fields[n + 2] = time .. check
  end
end

local out = {}
for at = FIRST, #ARGV, PER_REPORT do
  local now, pair, own, current, previous, caps_now, caps_before, rate =
    unpack_struct('<i8HHHHHHH', ARGV[at])
  local code, wait = 1, 0
  local waited = rate > 0 and spend_allowance(KEYS[rate], now)
  if waited then
    code, wait = 4, waited
  else
    local reporter = ARGV[at + 1]
    local short, check = sub(reporter, 1, SHORT), sub(reporter, SHORT + 1, CHECKED)
    local epoch_start = now - now % window
    local current_hash, previous_hash = KEYS[current], KEYS[previous]
    local seen, taken = counted_before(reporter, short, check, now, epoch_start, current_hash,
                                       previous_hash, KEYS[current + 1], KEYS[previous + 1])
    if seen then
      code = 0
    elseif caps_now > 0 then
      local capped, capped_wait = over_a_cap(KEYS[caps_now], KEYS[caps_before], ARGV[at + 4],
                                             ARGV[at + 5], now)
      if capped then code, wait = capped, capped_wait end
    end
    if code == 1 then
      within(counted_at, current_hash)[reporter] = now
      count_minute(KEYS[pair], KEYS[own], now, ARGV[at + 2], ARGV[at + 3])
      remember_reporter(current_hash, reporter, short, check, now - epoch_start, taken)
    end
  end
  out[#out + 1] = code
  out[#out + 1] = wait
end

-- The counts, summed per minute and field. Every other key was read above (a key of the wrong
-- type fails the call there); the buckets are checked before anything is written, so a call
-- fails whole or not at all.
local LISTPACK_ENTRIES = 128  -- Redis's default hash-max-listpack-entries
-- Where each minute goes, decided before anything is written, and only that bucket's type
-- checked: its pair, or its own bucket when its new fields would take the pair past a listpack.
local function check_type(bucket)
  local kind = call('TYPE', bucket).ok
  if kind ~= 'hash' and kind ~= 'none' then
    return redis.error_reply('WRONGTYPE the minute bucket ' .. bucket .. ' is a ' .. kind)
  end
end
local widths = {}  -- pair -> its fields, with those this call adds
for _, counts in ipairs(minutes) do
  local pair = counts.pair
  local wrong = check_type(pair)
  if wrong then return wrong end
  widths[pair] = widths[pair] or call('HLEN', pair)
  -- The fields the pair does not hold yet (the two minutes' fields never meet: their marks
  -- differ).
  local names = {}
  for field in pairs(counts.fields) do names[#names + 1] = counts.mark .. field end
  local held = call('HMGET', pair, unpack(names))
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
    call('HINCRBY', counts.bucket, counts.mark .. field, n)
  end
  call('EXPIRE', counts.bucket, retention)
end

-- Then what remembers them: the dedup entries, one HSET per hash...
for _, hash in ipairs(dedup_hashes) do
  call('HSET', hash, unpack(entries[hash]))
  -- The epoch's hash is needed until the next epoch ends.
  call('PEXPIRE', hash, 2 * window - first_offset[hash])
end
-- ...the cap times (per source: its times in this cap epoch, the cap's latest at most)...
for hash, fields in pairs(sources_in) do
  local values = {}
  local epoch_start
  for _, known in ipairs(fields) do
    epoch_start = known.epoch_start
    local packed
    if #known == 1 then
      packed = pack('<I4', known[1] - epoch_start)
    else
      local times = {}
      for i = 1, #known do
        if known[i] >= epoch_start then times[#times + 1] = known[i] end
      end
      table.sort(times)
      local cap = string.byte(known.field) == 97 and address_cap or network_cap  -- 'a' or 'n'
      local parts = {}
      for i = max(1, #times - cap + 1), #times do
        parts[#parts + 1] = pack('<I4', times[i] - epoch_start)
      end
      packed = table.concat(parts)
    end
    values[#values + 1] = known.field
    values[#values + 1] = packed
  end
  call('HSET', hash, unpack(values))
  -- Needed until the next cap epoch ends (from this batch's latest report).
  call('PEXPIRE', hash, max(1, epoch_start + 2 * cap_window - cap_hash_now[hash]))
end
-- ...and the rate-limit states.
for rate, tat in pairs(tats) do
  call('SET', rate, tat, 'PX', max(1, tat - tats_now[rate]))
end
return out
