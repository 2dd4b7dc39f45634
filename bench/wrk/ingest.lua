-- POST /v1/reports as a crowd: every request a new reporter token from a new address, so no
-- report is a duplicate and (with the rate limit raised for the run) none is limited.
-- At the end, prints how many 202s the threads saw, so the harness can check them against
-- what Redis counted.

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
  run = tostring(os.time())
end

function request()
  counter = counter + 1
  local ip = string.format("10.%d.%d.%d", (id * 16 + math.floor(counter / 65536)) % 256,
    math.floor(counter / 256) % 256, counter % 256)
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
