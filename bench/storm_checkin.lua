-- wrk script for bench/incident_storm.sh: GET /ping/<uuid> for a watch picked at random from
-- a UUID file (as bench/ping.lua), and at the end the whole latency histogram written to a
-- file, so that the script can merge runs and take exact percentiles of any set of them.
-- Usage: wrk ... -s bench/storm_checkin.lua URL -- uuids.txt hist.txt [delay_ms]
--   hist.txt gets one "<latency us> <count>" line per distinct latency.
--   delay_ms (optional, default 0): each connection waits this long after a reply before its
--   next request, which caps the rate at about connections * 1000 / delay_ms per second.

local uuids = {}
local threads = {}

-- Main Lua state, once per thread before it starts: a distinct id per thread (so the threads
-- draw different random sequences), and the thread kept so done() can read its globals.
function setup(thread)
  threads[#threads + 1] = thread
  thread:set("thread_id", #threads)
end

function init(args)
  if args[1] == nil or args[2] == nil then
    error("storm_checkin.lua: pass the UUID file and the histogram file after --")
  end
  for line in io.lines(args[1]) do
    if #line > 0 then
      uuids[#uuids + 1] = line
    end
  end
  if #uuids == 0 then
    error("storm_checkin.lua: no UUIDs in " .. args[1])
  end
  hist_path = args[2]
  local delay_ms = tonumber(args[3] or "0") or 0
  if delay_ms > 0 then
    -- Defined only when pacing: wrk looks for delay() after init, and without it runs
    -- exactly as with bench/ping.lua.
    function delay()
      return delay_ms
    end
  end
  math.randomseed(os.time() * 100 + (thread_id or 0))
end

function request()
  return wrk.format("GET", "/ping/" .. uuids[math.random(#uuids)])
end

-- Runs once, in the main Lua state, which never ran init(): the path is read from a thread.
function done(summary, latency, requests)
  local path = threads[1] and threads[1]:get("hist_path")
  if path == nil then
    return
  end
  local f = assert(io.open(path, "w"))
  for i = 1, #latency do
    local value, count = latency(i)
    f:write(string.format("%d %d\n", value, count))
  end
  f:close()
end
