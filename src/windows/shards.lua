-- Take, renew and balance the monitor's shard leases for one instance.
-- KEYS[1] the members (sorted set: holder -> expiry ms); KEYS[2..] one lease per shard, in
-- shard order, each "<holder>|<expiry ms>". ARGV[1] holder id, ARGV[2] now (ms, injected
-- clock), ARGV[3] lease (ms), ARGV[4] real-time safety TTL (ms).
-- Every live member is due ceil(shards / members) shards: the caller keeps its own up to that
-- (lowest first) and lets go of the rest, then takes free or expired ones up to it. An
-- instance that joins gets shards as the others let go of theirs on their next ticks; a dead
-- one's leases and membership lapse together, and the others take its shards.
-- Returns the shard numbers (from 0) the caller holds afterwards.
local holder, now, lease, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local shards = #KEYS - 1
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + lease, holder)
redis.call('PEXPIRE', KEYS[1], ttl)
local due = math.ceil(shards / redis.call('ZCARD', KEYS[1]))
local mine, free = {}, {}
for i = 1, shards do
  local current = redis.call('GET', KEYS[i + 1])
  local owner, expires
  if current then
    owner, expires = string.match(current, '^(.*)|(%d+)$')
  end
  if not expires or tonumber(expires) <= now then
    free[#free + 1] = i
  elseif owner == holder then
    mine[#mine + 1] = i
  end
end
local held = {}
local value = holder .. '|' .. (now + lease)
for _, i in ipairs(mine) do
  if #held < due then
    redis.call('SET', KEYS[i + 1], value, 'PX', ttl)
    held[#held + 1] = i - 1
  else
    redis.call('DEL', KEYS[i + 1])
  end
end
for _, i in ipairs(free) do
  if #held >= due then
    break
  end
  redis.call('SET', KEYS[i + 1], value, 'PX', ttl)
  held[#held + 1] = i - 1
end
return held
