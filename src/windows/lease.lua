-- Take or renew the monitor lease.
-- KEYS[1] lease key; ARGV[1] holder id, ARGV[2] now (ms, injected clock), ARGV[3] lease (ms),
-- ARGV[4] real-time safety TTL (ms). The value is "<holder>|<expiry ms>".
-- Returns 1 if the caller holds the lease afterwards, 0 if someone else does.
local current = redis.call('GET', KEYS[1])
if current then
  local holder, expires = string.match(current, '^(.*)|(%d+)$')
  if holder ~= ARGV[1] and expires and tonumber(expires) > tonumber(ARGV[2]) then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. (tonumber(ARGV[2]) + tonumber(ARGV[3])), 'PX', ARGV[4])
return 1
