-- Count one report, at most once per reporter per service per dedup window.
-- KEYS[1] dedup key, KEYS[2] minute bucket (both carry the service's hash tag)
-- ARGV[1] now (ms, from the injected clock)  ARGV[2] dedup window (ms)
-- ARGV[3] bucket retention (s)  ARGV[4] problem kind  ARGV[5] country or ''
-- Returns 1 when counted, 0 for a duplicate.
local now = tonumber(ARGV[1])
local last = redis.call('GET', KEYS[1])
if last and now - tonumber(last) < tonumber(ARGV[2]) then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('HINCRBY', KEYS[2], 't', 1)
redis.call('HINCRBY', KEYS[2], 'p:' .. ARGV[4], 1)
if ARGV[5] ~= '' then
  redis.call('HINCRBY', KEYS[2], 'c:' .. ARGV[5], 1)
end
redis.call('EXPIRE', KEYS[2], ARGV[3])
return 1
