-- scripts/load: wrk cycles over the paths in WRK_PATHS (separated by "|")
-- and counts every response by status class, exactly (wrk's own
-- "Non-2xx or 3xx responses" lumps 4xx and 5xx together). done() prints
-- status_2xx=… status_3xx=… status_4xx=… status_5xx=… lines.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  paths = {}
  for p in string.gmatch(os.getenv("WRK_PATHS") or "/", "[^|]+") do
    table.insert(paths, p)
  end
  i = 0
  c1, c2, c3, c4, c5 = 0, 0, 0, 0, 0
end

function request()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end

function response(status, headers, body)
  if status >= 500 then c5 = c5 + 1
  elseif status >= 400 then c4 = c4 + 1
  elseif status >= 300 then c3 = c3 + 1
  elseif status >= 200 then c2 = c2 + 1
  else c1 = c1 + 1 end
end

function done(summary, latency, requests)
  local t = {0, 0, 0, 0, 0}
  for _, thread in ipairs(threads) do
    t[1] = t[1] + thread:get("c1")
    t[2] = t[2] + thread:get("c2")
    t[3] = t[3] + thread:get("c3")
    t[4] = t[4] + thread:get("c4")
    t[5] = t[5] + thread:get("c5")
  end
  io.write(string.format("status_1xx=%d\nstatus_2xx=%d\nstatus_3xx=%d\nstatus_4xx=%d\nstatus_5xx=%d\n",
    t[1], t[2], t[3], t[4], t[5]))
  io.write(string.format("requests=%d\nduration_s=%.2f\nsocket_errors=%d\n", summary.requests,
    summary.duration / 1e6, summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout))
end
