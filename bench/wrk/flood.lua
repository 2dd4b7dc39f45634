-- GET curves as a read flood during an outage: every request a question nobody asked before
-- (a `from` minute of its own within the last 90 days) from an address of its own, so neither
-- the read cache nor the per-address read limit stands between it and a rendering. At the end,
-- prints how many answers were rendered (200), busy (503) and anything else.

local threads = {}
local next_id = 0

function setup(thread)
  next_id = next_id + 1
  thread:set("id", next_id)
  table.insert(threads, thread)
end

function init(args)
  rendered = 0
  busy = 0
  other = 0
  counter = 0
  now = os.time()
end

function request()
  counter = counter + 1
  local minutes = (id * 64793 + counter) % 129000
  local from = os.date("!%Y-%m-%dT%H:%M:00Z", now - 3600 - minutes * 60)
  local ip = string.format("%d.%d.%d.%d", 101 + id, math.floor(counter / 65536) % 256,
    math.floor(counter / 256) % 256, counter % 256)
  return wrk.format("GET", "/v1/services/chatgpt/curve?step=15m&from=" .. from,
    { ["X-Forwarded-For"] = ip })
end

function response(status, headers, body)
  if status == 200 then
    rendered = rendered + 1
  elseif status == 503 then
    busy = busy + 1
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local r, b, o = 0, 0, 0
  for _, thread in ipairs(threads) do
    r = r + thread:get("rendered")
    b = b + thread:get("busy")
    o = o + thread:get("other")
  end
  io.write(string.format("rendered %d\nbusy %d\nother %d\n", r, b, o))
end
