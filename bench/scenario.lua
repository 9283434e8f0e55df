-- One wrk scenario, configured by bench/run.py through the environment:
--   BENCH_METHOD, BENCH_PATH, BENCH_BODY (form body, POST), BENCH_HEADERS ("Name: value" lines),
--   BENCH_EXPECT (a Lua pattern every successful body must match),
--   BENCH_CHAIN_FILE (refresh_token scenario: one seed refresh token per line; each response's
--   new refresh_token is queued and presented by the next request: rotation chains, one per
--   connection, every token used once).
-- done() prints one line "BENCHJSON {...}" that bench/run.py parses.

local method = os.getenv("BENCH_METHOD") or "GET"
local path = os.getenv("BENCH_PATH") or "/"
local body = os.getenv("BENCH_BODY")
local expect = os.getenv("BENCH_EXPECT") or ""
local chain_file = os.getenv("BENCH_CHAIN_FILE")
local headers = {}
for line in string.gmatch(os.getenv("BENCH_HEADERS") or "", "[^\n]+") do
  local name, value = string.match(line, "^([^:]+):%s*(.*)$")
  if name then headers[name] = value end
end
if body then headers["Content-Type"] = "application/x-www-form-urlencoded" end

local threads = {}
local counter = 0

function setup(thread)
  thread:set("index", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local queue, head, tail = {}, 1, 0
-- Globals: done() reads them from each thread with thread:get().
bad, starved = 0, 0
local fixed

-- wrk calls request() once on thread 0 right after init() to inspect the request (never sent):
-- that call must not consume a seed token.
local inspecting = false

function init(args)
  inspecting = (index == 0)
  if chain_file then
    local nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")
    local n = 0
    for line in io.lines(chain_file) do
      if n % nthreads == index then
        tail = tail + 1
        queue[tail] = line
      end
      n = n + 1
    end
  else
    fixed = wrk.format(method, path, headers, body)
  end
end

function request()
  if not chain_file then return fixed end
  local token = "starved"
  if inspecting then
    inspecting = false
  elseif head <= tail then
    token = queue[head]
    queue[head] = nil
    head = head + 1
  else
    starved = starved + 1
  end
  return wrk.format(method, path, headers, body .. token)
end

function response(status, hdrs, resp)
  if status ~= 200 or (expect ~= "" and not string.find(resp, expect)) then
    bad = bad + 1
  end
  if chain_file and status == 200 then
    local token = string.match(resp, '"refresh_token"%s*:%s*"([^"]+)"')
    if token then
      tail = tail + 1
      queue[tail] = token
    end
  end
end

function done(summary, latency, requests)
  local bad_total, starved_total = 0, 0
  for _, thread in ipairs(threads) do
    bad_total = bad_total + (thread:get("bad") or 0)
    starved_total = starved_total + (thread:get("starved") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect_errors":%d,"read_errors":%d,'
      .. '"write_errors":%d,"status_errors":%d,"timeouts":%d,"bad":%d,"starved":%d,'
      .. '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, bad_total, starved_total, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean))
end
