-- POST /v1/reports as a crowd: every request a new reporter token from a new address in a
-- network (/24) of its own, as a real crowd is spread, so no report is a duplicate, none meets
-- the per-address or per-network cap, and (with the rate limit raised for the run) none is
-- limited. Each run starts at another place in the 5.9 million /24s of 11.0.0.0-100.255.255.255.
-- At the end, prints how many 202s the threads saw, so the harness can check them against
-- what Redis counted. Several wrk processes at once (one per instance) each get their own
-- BENCH_WRK_TAG (0, 1, 2...), so their reporters and addresses never meet.

local threads = {}
local next_id = 0

function setup(thread)
  next_id = next_id + 1
  thread:set("id", next_id)
  table.insert(threads, thread)
end

function init(args)
  accepted = 0
  other = 0
  counter = 0
  service = os.getenv("BENCH_SERVICE") or "chatgpt"
  local tag = tonumber(os.getenv("BENCH_WRK_TAG") or "0")
  run = tostring(os.time()) .. "t" .. tag
  networks = 90 * 65536
  first = (os.time() * 7919 + tag * 1000003) % networks
end

function request()
  counter = counter + 1
  local n = (first + id * 2000003 + counter) % networks
  local ip = string.format("%d.%d.%d.%d", 11 + math.floor(n / 65536), math.floor(n / 256) % 256,
    n % 256, id)
  local body = string.format(
    '{"service":"%s","problem":"website","country":"US","reporter":"bench%s-%d-%d"}',
    service, run, id, counter)
  return wrk.format("POST", "/v1/reports",
    { ["Content-Type"] = "application/json", ["X-Forwarded-For"] = ip }, body)
end

function response(status, headers, body)
  if status == 202 then
    accepted = accepted + 1
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local a, o = 0, 0
  for _, thread in ipairs(threads) do
    a = a + thread:get("accepted")
    o = o + thread:get("other")
  end
  io.write(string.format("accepted %d\nother %d\n", a, o))
end
