-- Count one report, at most once per reporter per service per dedup window, and, with caps,
-- at most ARGV[7] per client address and ARGV[8] per network per service per cap window; with a
-- shared rate limit, only while the client's allowance (GCRA) has room, whichever instance it
-- reached.
-- KEYS[1] dedup key, KEYS[2] minute bucket, optional KEYS[3] address log, KEYS[4] network log
-- (all carry the service's hash tag; the logs are sorted sets of counted reports by time),
-- optional KEYS[5] the client's rate-limit state (its theoretical arrival time, in ms; this key
-- is the client's, not the service's: single-node Redis)
-- ARGV[1] now (ms, from the injected clock)  ARGV[2] dedup window (ms)
-- ARGV[3] bucket retention (s)  ARGV[4] problem kind  ARGV[5] country or ''
-- ARGV[6] cap window (ms)  ARGV[7] address cap  ARGV[8] network cap
-- ARGV[9] emission interval (ms per report)  ARGV[10] burst tolerance (ms: interval x (burst - 1))
-- Returns {1, 0} when counted, {0, 0} for a duplicate, {2, wait ms} when the address is at its
-- cap, {3, wait ms} when the network is, {4, wait ms} when the client is over its rate.
local now = tonumber(ARGV[1])
if #KEYS >= 5 then
  -- Every report spends allowance, duplicates included, as in the in-process first line.
  local tat = tonumber(redis.call('GET', KEYS[5]) or now)
  if tat < now then tat = now end
  local tolerance = tonumber(ARGV[10])
  if tat - now > tolerance then
    return {4, tat - tolerance - now}
  end
  local next_tat = tat + tonumber(ARGV[9])
  redis.call('SET', KEYS[5], next_tat, 'PX', math.max(1, next_tat - now))
end
local last = redis.call('GET', KEYS[1])
if last and now - tonumber(last) < tonumber(ARGV[2]) then
  return {0, 0}
end
if #KEYS >= 4 then
  local window = tonumber(ARGV[6])
  for i = 3, 4 do
    redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
    if redis.call('ZCARD', KEYS[i]) >= tonumber(ARGV[i + 4]) then
      local oldest = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
      return {i - 1, tonumber(oldest[2]) + window - now}
    end
  end
  for i = 3, 4 do
    redis.call('ZADD', KEYS[i], now, ARGV[1] .. ':' .. KEYS[1])
    redis.call('PEXPIRE', KEYS[i], window)
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('HINCRBY', KEYS[2], 't', 1)
redis.call('HINCRBY', KEYS[2], 'p:' .. ARGV[4], 1)
if ARGV[5] ~= '' then
  redis.call('HINCRBY', KEYS[2], 'c:' .. ARGV[5], 1)
end
redis.call('EXPIRE', KEYS[2], ARGV[3])
return {1, 0}
