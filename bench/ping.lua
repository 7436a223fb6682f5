-- wrk script: each request is GET /ping/<uuid> for a watch picked at random from the file
-- named by the first script argument (one UUID a line, as overdue-seed --uuids writes it).
-- Usage: wrk -t2 -c64 -d10s -s bench/ping.lua http://127.0.0.1:PORT -- uuids.txt
-- Requests are built in Lua per call, so the same script costs wrk the same for overdue and
-- for the nginx baseline.

local uuids = {}
local thread_count = 0

-- Runs in the main Lua state once per thread before it starts: give each a distinct id so
-- the threads draw different random sequences.
function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_id", thread_count)
end

function init(args)
  local path = args[1]
  if path == nil then
    error("ping.lua: pass the UUID file after --")
  end
  for line in io.lines(path) do
    if #line > 0 then
      uuids[#uuids + 1] = line
    end
  end
  if #uuids == 0 then
    error("ping.lua: no UUIDs in " .. path)
  end
  math.randomseed(os.time() * 100 + (thread_id or 0))
end

function request()
  return wrk.format("GET", "/ping/" .. uuids[math.random(#uuids)])
end
