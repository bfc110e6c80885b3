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

-- A valid generation.requested (Schemas/events/), about 600 bytes like a real one.
local function event(n)
  return string.format('{"event_id":"bench-%s-%d-%d","kind":"generation.requested","occurred_at":"2026-11-25T10:00:00Z",'
    .. '"platform":"bench.example","schema_version":1,"account":"hmac-sha256:%064x","subscription_tier":"premium",'
    .. '"model":{"name":"imagine","version":"3.1"},"prompt":{"sha256":"%064x"},'
    .. '"input_images":[{"sha256":"%064x","pdq":"%064x"}],'
    .. '"flags":{"real_person_detected":true,"minor_suspected":false,"nudity_requested":false},'
    .. '"decision":{"outcome":"allowed","classifiers":[{"label":"sexual","score":0.02}]}}',
    run, thread_id, n, n % 10000, n, n * 7, n * 13)
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

function response(status, headers, body)
  if status >= 300 and not reported then
    reported = true
    io.stderr:write("append.lua: HTTP " .. status .. ": " .. string.sub(body, 1, 300) .. "\n")
  end
end

function done(summary, latency, requests)
  local ok = summary.requests - summary.errors.status
  io.write(string.format("requests %d, non-2xx %d, events acknowledged/s %.0f, p50 %.2f ms, p99 %.2f ms\n",
    summary.requests, summary.errors.status, ok * batch / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
