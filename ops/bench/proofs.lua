-- wrk script: GET /v1/proofs/inclusion for random indices of a tree of GREFFE_SIZE entries.
local size = tonumber(os.getenv("GREFFE_SIZE"))

function init(args)
  math.randomseed(os.time() + (tonumber(tostring({}):sub(8)) or 0))
end

function request()
  return wrk.format("GET", string.format("/v1/proofs/inclusion?index=%d&tree_size=%d", math.random(0, size - 1), size))
end

function done(summary, latency, requests)
  io.write(string.format("requests %d, non-2xx %d, proofs/s %.0f, p50 %.2f ms, p99 %.2f ms\n",
    summary.requests, summary.errors.status, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
