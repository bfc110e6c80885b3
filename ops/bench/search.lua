-- wrk script: GET the paths of a file (one per line, in turn) with an investigator's token.
-- Env: GREFFE_TOKEN (investigate token), GREFFE_PATHS (the file), GREFFE_EXPECT ("empty": every
-- answer must have no event, "found": at least one; a wrong answer counts as non-2xx, so the
-- benchmark refuses a figure that measured a bug).
local token = os.getenv("GREFFE_TOKEN")
local expect = os.getenv("GREFFE_EXPECT") or ""
local paths = {}
for line in io.lines(os.getenv("GREFFE_PATHS")) do
  if #line > 0 then table.insert(paths, line) end
end
local threads = {}

function setup(thread)
  thread:set("first", #threads * 7919)
  table.insert(threads, thread)
end

local n = 0
local wrong = 0

function request()
  n = n + 1
  local path = paths[((first or 0) + n) % #paths + 1]
  return wrk.format("GET", path, {["Authorization"] = "Bearer " .. token})
end

function response(status, headers, body)
  local empty = string.find(body, '"events":[]', 1, true) ~= nil
  if status >= 300 or (expect == "empty" and not empty) or (expect == "found" and empty) then
    wrong = wrong + 1
    if not reported then
      reported = true
      io.stderr:write("search.lua: HTTP " .. status .. ", expected " .. expect .. ": " .. string.sub(body, 1, 300) .. "\n")
    end
  end
end

function done(summary, latency, requests)
  local refused = summary.errors.status
  for _, thread in ipairs(threads) do refused = refused + (thread:get("wrong") or 0) end
  io.write(string.format("requests %d, non-2xx %d, searches/s %.0f, p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
    summary.requests, refused, (summary.requests - refused) / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
