-- wrk script of bench/load.py: send pre-signed call.setup deliveries, each one once, and count
-- the answers by their "lettering" value.
--
--   wrk -t1 -c64 -d10s --timeout 10s -s bench/wrk_setup.lua http://127.0.0.1:PORT -- FILE [wrap]
--
-- FILE holds one delivery per line: webhook-id TAB webhook-timestamp TAB webhook-signature TAB body.
-- With one wrk thread every connection shares this Lua state, so a plain counter hands each
-- request the next delivery: no delivery is sent twice. When the file is used up the thread stops
-- (and says so in the summary as "exhausted"), unless "wrap" is given (the floor, which does not
-- deduplicate, reuses the file). Counting in response() makes wrk parse each body: that costs
-- wrk some speed, the same for the floor and the service.

local requests = {}
local count = 0
local wrap = false
-- Globals: done() reads them from each thread's state with thread:get().
next_index = 1
exhausted = 0
counts = {}

function init(args)
  local path = args[1]
  wrap = args[2] == "wrap"
  local file = assert(io.open(path, "r"))
  for line in file:lines() do
    local id, ts, sig, body = line:match("^([^\t]+)\t([^\t]+)\t([^\t]+)\t(.*)$")
    if id then
      count = count + 1
      requests[count] = wrk.format("POST", "/v1/pbx/events", {
        ["Content-Type"] = "application/json",
        ["webhook-id"] = id,
        ["webhook-timestamp"] = ts,
        ["webhook-signature"] = sig,
      }, body)
    end
  end
  file:close()
end

function request()
  if next_index > count then
    if wrap then
      next_index = 1
    else
      exhausted = exhausted + 1
      wrk.thread:stop()
      -- Something must be returned; it is the last delivery again, and the thread stops now.
      return requests[count]
    end
  end
  local r = requests[next_index]
  next_index = next_index + 1
  return r
end

function response(status, headers, body)
  local key
  if status == 200 then
    key = body:match('"lettering"%s*:%s*"([%w_]+)"') or "no_lettering"
    -- A setup shed at the admission limit is answered skipped/overloaded: not a decided setup.
    if key == "skipped" and body:find('"reason"%s*:%s*"overloaded"') then key = "shed" end
  else
    key = "http_" .. status
  end
  counts[key] = (counts[key] or 0) + 1
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function done(summary, latency, requests_)
  local merged = {}
  local sent = 0
  local gone = 0
  for _, t in ipairs(threads) do
    local c = t:get("counts")
    for k, v in pairs(c) do
      merged[k] = (merged[k] or 0) + v
    end
    sent = sent + (t:get("next_index") - 1)
    gone = gone + t:get("exhausted")
  end
  local parts = {}
  for k, v in pairs(merged) do
    table.insert(parts, string.format('"%s": %d', k, v))
  end
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"duration_us": %d, "requests": %d, "bytes": %d, "sent_index": %d, "exhausted": %d, '
      .. '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, '
      .. '"latency_us": {"min": %d, "mean": %.1f, "p50": %d, "p90": %d, "p99": %d, "p999": %d, "max": %d}, '
      .. '"counts": {%s}}\n',
    summary.duration, summary.requests, summary.bytes, sent, gone,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9), latency.max,
    table.concat(parts, ", ")
  ))
end
