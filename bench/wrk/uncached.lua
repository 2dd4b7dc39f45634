-- GET the path given on the command line with a query parameter that changes on every
-- request, so the read cache never answers: what rendering each request costs.

function init(args)
  counter = 0
end

function request()
  counter = counter + 1
  local sep = string.find(wrk.path, "?", 1, true) and "&" or "?"
  return wrk.format("GET", wrk.path .. sep .. "nocache=" .. counter)
end
