-- wrk: the API read of a loan's history, as a client does it: the requests cycle through the
-- addresses in BENCH_PATHS ("|" between them: the loan, its schedule, a page of repayments,
-- a page of transactions) with the bearer token in BENCH_TOKEN; count every answer that is
-- not a 200.
local paths = {}
for p in string.gmatch(os.getenv("BENCH_PATHS") or "", "[^|]+") do
  table.insert(paths, p)
end
local auth = "Bearer " .. (os.getenv("BENCH_TOKEN") or "")
local counter = 0
local threads = {}

function setup(thread)
  thread:set("offset", counter)
  thread:set("bad", 0)
  counter = counter + 1
  table.insert(threads, thread)
end

function request()
  offset = offset + 1
  return wrk.format("GET", paths[(offset % #paths) + 1], { ["Authorization"] = auth })
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
