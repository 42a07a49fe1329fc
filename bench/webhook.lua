-- wrk script for bench/run's webhook benchmark: POSTs one AdmissionReview
-- (a file) to /mutate-pod on every request, optionally paced.
--
--   wrk -s bench/webhook.lua https://127.0.0.1:PORT/mutate-pod -- BODY.json [DELAY_MS]
--
-- DELAY_MS > 0 (whole milliseconds) makes each connection wait that long before each request, so
-- C connections give about C * 1000 / (DELAY_MS + latency) requests per
-- second (wrk has no fixed-rate mode; wrk2 is not in Debian). Non-2xx
-- answers show up in wrk's "Non-2xx or 3xx responses" line, which bench/run
-- treats as a failed run.

local request_text
local delay_ms = 0

function init(args)
  local f = assert(io.open(args[1], "rb"), "cannot open the AdmissionReview file " .. tostring(args[1]))
  local body = f:read("*a")
  f:close()
  delay_ms = tonumber(args[2] or "0")
  request_text = wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end

function request()
  return request_text
end

function delay()
  return delay_ms
end
