-- wrk: post the payment form as a cashier's browser does, one connection per wrk thread, so
-- each thread sees its own answers in order. BENCH_POST_SESSIONS holds one signed-in session
-- per thread ("cookie header;;csrf token|..."), BENCH_POST_LOANS the loan ids,
-- BENCH_POST_PHASE names the phase and BENCH_POST_RUN keeps the idempotency keys unique. Every
-- answer must be a 302 to the new repayment; every 20th form is sent twice (a double click)
-- and the second answer must point at the same repayment. Each thread reports the repayment
-- ids it was given, for the reconciliation against the database.
local sessions = {}
for entry in string.gmatch(os.getenv("BENCH_POST_SESSIONS") or "", "[^|]+") do
  local cookie, token = string.match(entry, "^(.-);;(.+)$")
  table.insert(sessions, { cookie = cookie, token = token })
end
local loans = {}
for id in string.gmatch(os.getenv("BENCH_POST_LOANS") or "", "%d+") do
  table.insert(loans, id)
end
local phase = os.getenv("BENCH_POST_PHASE") or "run"
local run = os.getenv("BENCH_POST_RUN") or phase -- unique per run: keys are never reused
local paid_on = os.getenv("BENCH_POST_DATE")
local counter = 0
local threads = {}

function setup(thread)
  thread:set("index", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  session = sessions[(index % #sessions) + 1]
  n = 0
  ok, errors, doubles_ok, doubles_bad = 0, 0, 0, 0
  ids = {}
  samples = {}
  last_body, last_id, repeating = nil, nil, false
end

local function form(key)
  return "csrfmiddlewaretoken=" .. session.token
    .. "&idempotency_key=" .. key
    .. "&amount=1.00&paid_on=" .. paid_on .. "&method=cash"
    .. "&reference=bench-" .. phase .. "-" .. index .. "-" .. n
end

function request()
  local loan
  if last_body ~= nil and n % 20 == 0 and not repeating then
    repeating = true -- the same form again, as a second click would send it
    loan = last_loan
  else
    repeating = false
    n = n + 1
    loan = loans[((index + n * #sessions) % #loans) + 1]
    last_loan = loan
    last_body = form(run .. "-" .. index .. "-" .. n)
  end
  local path = "/loans/" .. loan .. "/repayments/new/"
  return wrk.format("POST", path, {
    ["Cookie"] = session.cookie,
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Referer"] = wrk.scheme .. "://" .. wrk.host .. ":" .. wrk.port .. path,
  }, last_body)
end

function response(status, headers, body)
  local id = status == 302 and string.match(headers["Location"] or "", "/repayments/(%d+)/")
  if repeating then
    if id and id == last_id then
      doubles_ok = doubles_ok + 1
    else
      doubles_bad = doubles_bad + 1
    end
  elseif id then
    ok = ok + 1
    last_id = id
    table.insert(ids, id)
  else
    errors = errors + 1
    if #samples < 5 then
      table.insert(samples, status .. " " .. string.sub(body or "", 1, 120))
    end
  end
end

function done(summary, latency, requests)
  local totals = { ok = 0, errors = 0, doubles_ok = 0, doubles_bad = 0 }
  local all_ids, all_samples = {}, {}
  for _, thread in ipairs(threads) do
    for name, _ in pairs(totals) do
      totals[name] = totals[name] + thread:get(name)
    end
    for _, id in ipairs(thread:get("ids")) do
      table.insert(all_ids, id)
    end
    for _, sample in ipairs(thread:get("samples")) do
      table.insert(all_samples, (string.gsub(sample, "%s+", " ")))
    end
  end
  io.write(string.format("POSTED ok=%d errors=%d doubles_ok=%d doubles_bad=%d seconds=%.3f\n",
    totals.ok, totals.errors, totals.doubles_ok, totals.doubles_bad, summary.duration / 1e6))
  io.write("IDS " .. table.concat(all_ids, ",") .. "\n")
  for _, sample in ipairs(all_samples) do
    io.write("ERROR " .. sample .. "\n")
  end
end
