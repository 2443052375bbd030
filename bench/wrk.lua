-- wrk script for bench/run.py: one thread = one connection = one virtual user.
--
-- Run as `wrk -t N -c N -s bench/wrk.lua URL` with, in the environment:
--   BENCH_MODE    refresh_body | refresh_cookie | me
--   BENCH_TOKENS  a file of N lines "<access> <refresh> <csrftoken>", one per virtual user
--                 (made by logins before the timed run)
--
-- Refreshes are chained: each virtual user sends the refresh token that its
-- previous refresh returned, as a real client must under rotation. wrk calls
-- response() for a request before request() builds the next one on the same
-- connection, so the chain holds with one connection per thread.
--
-- done() prints one line "BENCH_JSON {...}" that run.py parses.

local mode = os.getenv("BENCH_MODE")
local token_file = os.getenv("BENCH_TOKENS")

local users = {}
for line in io.lines(token_file) do
  local a, r, c = line:match("^(%S+) (%S+) (%S+)$")
  if a then
    users[#users + 1] = { a, r, c }
  end
end

local assigned = 0
local threads = {}

function setup(thread)
  assigned = assigned + 1
  local user = users[assigned]
  if user == nil then
    error("BENCH_TOKENS has fewer lines than threads")
  end
  thread:set("access", user[1])
  thread:set("refresh", user[2])
  thread:set("csrf", user[3])
  threads[#threads + 1] = thread
end

-- Per-thread state (each thread runs its own copy of this script).
failures = 0      -- non-200 answers
chain_breaks = 0  -- a 200 whose new refresh token could not be read

local body_headers = { ["Content-Type"] = "application/json" }

function request()
  if mode == "me" then
    return wrk.format("GET", nil, { ["Authorization"] = "Bearer " .. access })
  elseif mode == "refresh_body" then
    return wrk.format("POST", nil, body_headers, '{"refresh":"' .. refresh .. '"}')
  elseif mode == "refresh_cookie" then
    return wrk.format("POST", nil, {
      ["Content-Type"] = "application/json",
      ["Cookie"] = "csrftoken=" .. csrf .. "; refresh_token=" .. refresh,
      ["X-CSRFToken"] = csrf,
    }, "{}")
  end
  error("unknown BENCH_MODE " .. tostring(mode))
end

function response(status, headers, body)
  if status ~= 200 then
    failures = failures + 1
    return
  end
  if mode == "refresh_body" then
    local new = body:match('"refresh"%s*:%s*"([^"]+)"')
    if new then refresh = new else chain_breaks = chain_breaks + 1 end
  elseif mode == "refresh_cookie" then
    -- wrk hands headers over as a table, so of several Set-Cookie headers
    -- only the last survives: authsvc sets access_token, then refresh_token.
    local new = nil
    for name, value in pairs(headers) do
      if name:lower() == "set-cookie" then
        new = value:match("refresh_token=([^;]+)") or new
      end
    end
    if new then refresh = new else chain_breaks = chain_breaks + 1 end
  end
end

function done(summary, latency, requests)
  local failed, broken = 0, 0
  for _, thread in ipairs(threads) do
    failed = failed + thread:get("failures")
    broken = broken + thread:get("chain_breaks")
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p95_us":%d,"p99_us":%d,"max_us":%d,'
      .. '"mean_us":%.1f,"non_200":%d,"chain_breaks":%d,"connect_errors":%d,"read_errors":%d,'
      .. '"write_errors":%d,"timeouts":%d,"status_errors":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), latency.max, latency.mean, failed, broken, e.connect, e.read,
    e.write, e.timeout, e.status))
end
