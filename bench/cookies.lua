-- wrk: spread requests over the logged-in sessions in BENCH_COOKIES (one per simulated user),
-- so eight clients are eight staff members, not one session row updated by all of them;
-- count every answer that is not a 200 (wrk itself counts redirects as successes).
local cookies = {}
for c in string.gmatch(os.getenv("BENCH_COOKIES") or "", "[^|]+") do
  table.insert(cookies, c)
end
local counter = 0
local threads = {}

function setup(thread)
  thread:set("offset", counter)
  thread:set("bad", 0)
  counter = counter + 1
  table.insert(threads, thread)
end

function request()
  offset = offset + 2
  local cookie = cookies[(offset % #cookies) + 1]
  return wrk.format("GET", nil, { ["Cookie"] = cookie })
end

function response(status, headers, body)
  if status ~= 200 then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("bad")
  end
  io.write(string.format("NON_200 %d\n", total))
end
