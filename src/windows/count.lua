-- Count one report, at most once per reporter per service per dedup window, and, with caps,
-- at most ARGV[7] per client address and ARGV[8] per network per service per cap window.
-- KEYS[1] dedup key, KEYS[2] minute bucket, optional KEYS[3] address log, KEYS[4] network log
-- (all carry the service's hash tag; the logs are sorted sets of counted reports by time)
-- ARGV[1] now (ms, from the injected clock)  ARGV[2] dedup window (ms)
-- ARGV[3] bucket retention (s)  ARGV[4] problem kind  ARGV[5] country or ''
-- ARGV[6] cap window (ms)  ARGV[7] address cap  ARGV[8] network cap
-- Returns {1, 0} when counted, {0, 0} for a duplicate, {2, wait ms} when the address is at its
-- cap, {3, wait ms} when the network is.
local now = tonumber(ARGV[1])
local last = redis.call('GET', KEYS[1])
if last and now - tonumber(last) < tonumber(ARGV[2]) then
  return {0, 0}
end
if #KEYS == 4 then
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
