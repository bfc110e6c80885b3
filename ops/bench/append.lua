-- wrk script: POST /v1/events with unique event_ids.
-- Env: GREFFE_TOKEN (append token), GREFFE_BATCH (events per request, 1 = single-event bodies).
local counter = 0
local threads = {}

function setup(thread)
  thread:set("thread_id", #threads)
  table.insert(threads, thread)
end

local token = os.getenv("GREFFE_TOKEN")
local batch = tonumber(os.getenv("GREFFE_BATCH") or "100")
local run = os.getenv("GREFFE_RUN") or tostring(os.time())

local function event(n)
  return string.format('{"event_id":"bench-%s-%d-%d","kind":"generation.requested","account":"hmac-sha256:%064x","n":%d}',
    run, thread_id, n, n, n)
end

function request()
  local body
  if batch == 1 then
    counter = counter + 1
    body = event(counter)
  else
    local parts = {}
    for i = 1, batch do
      counter = counter + 1
      parts[i] = event(counter)
    end
    body = '{"events":[' .. table.concat(parts, ",") .. ']}'
  end
  return wrk.format("POST", "/v1/events", {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}, body)
end

function done(summary, latency, requests)
  local ok = summary.requests - summary.errors.status
  io.write(string.format("requests %d, non-2xx %d, events acknowledged/s %.0f, p50 %.2f ms, p99 %.2f ms\n",
    summary.requests, summary.errors.status, ok * batch / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
