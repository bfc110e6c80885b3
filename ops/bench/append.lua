-- wrk script: POST /v1/events with unique event_ids.
-- Env: GREFFE_TOKEN (append token), GREFFE_BATCH (events per request, 1 = single-event bodies),
-- GREFFE_KEYS=random: event IDs, prompt and image hashes random (as UUIDs and SHA-256 are) instead
-- of counting up, which lands most index inserts at the end of their B-trees.
local counter = 0
local threads = {}

function setup(thread)
  thread:set("thread_id", #threads)
  table.insert(threads, thread)
end

local token = os.getenv("GREFFE_TOKEN")
local batch = tonumber(os.getenv("GREFFE_BATCH") or "100")
local run = os.getenv("GREFFE_RUN") or tostring(os.time())
local randomKeys = os.getenv("GREFFE_KEYS") == "random"

local function randomHex64()
  return string.format("%08x%08x%08x%08x%08x%08x%08x%08x",
    math.random(0, 0x7fffffff), math.random(0, 0x7fffffff), math.random(0, 0x7fffffff), math.random(0, 0x7fffffff),
    math.random(0, 0x7fffffff), math.random(0, 0x7fffffff), math.random(0, 0x7fffffff), math.random(0, 0x7fffffff))
end

-- A valid generation.requested (Schemas/events/), about 600 bytes like a real one.
local function event(n)
  local id, prompt, image, pdq
  if randomKeys then
    if not seeded then
      math.randomseed(os.time() * 1000 + thread_id)
      seeded = true
    end
    -- Unique by its suffix, random from its first character on.
    id = string.format("%s-%s-%d-%d", string.sub(randomHex64(), 1, 32), run, thread_id, n)
    prompt, image, pdq = randomHex64(), randomHex64(), randomHex64()
  else
    id = string.format("bench-%s-%d-%d", run, thread_id, n)
    prompt, image, pdq = string.format("%064x", n), string.format("%064x", n * 7), string.format("%064x", n * 13)
  end
  return string.format('{"event_id":"%s","kind":"generation.requested","occurred_at":"2026-11-25T10:00:00Z",'
    .. '"platform":"bench.example","schema_version":1,"account":"hmac-sha256:%064x","subscription_tier":"premium",'
    .. '"model":{"name":"imagine","version":"3.1"},"prompt":{"sha256":"%s"},'
    .. '"input_images":[{"sha256":"%s","pdq":"%s"}],'
    .. '"flags":{"real_person_detected":true,"minor_suspected":false,"nudity_requested":false},'
    .. '"decision":{"outcome":"allowed","classifiers":[{"label":"sexual","score":0.02}]}}',
    id, n % 10000, prompt, image, pdq)
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
  io.write(string.format("requests %d, non-2xx %d, events acknowledged/s %.0f, p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
    summary.requests, summary.errors.status, ok * batch / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
