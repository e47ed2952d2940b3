-- wrk script for bench/bench_token_endpoint.py.
-- args: METHOD PATH [PROOFS_FILE BODY]: with a proofs file, each request carries the next unused device proof
-- (thread i takes lines i, i+T, i+2T...), so no proof is sent twice; without one, a plain request.
-- done() prints one JSON line: requests, seconds, non-2xx answers, socket errors.
local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  method, path = args[1], args[2]
  proofs = nil
  if args[3] then
    proofs = {}
    for line in io.lines(args[3]) do proofs[#proofs + 1] = line end
    body = args[4]
    step = tonumber(args[5])
    idx = tid
  end
end

function request()
  if proofs == nil then
    return wrk.format(method, path)
  end
  local p = proofs[(idx % #proofs) + 1]
  idx = idx + step
  return wrk.format(method, path, {["Content-Type"] = "application/json", ["Authorization"] = "Device " .. p}, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests": %d, "seconds": %.6f, "non2xx": %d, "socket_errors": %d, "p99_ms": %.3f}\n',
    summary.requests, summary.duration / 1e6, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(99) / 1000))
end
