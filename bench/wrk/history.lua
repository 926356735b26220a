-- History page: the latest 50 messages of a random room.
-- args: TOKEN ROOMS_FILE
-- Every room's request is built once in init(): request() only picks one,
-- so the client spends its CPU on the exchange, not on string building
-- (it shares the machine's two cores with the server).
local requests = {}

function init(args)
  local token = args[1]
  for line in io.lines(args[2]) do
    table.insert(requests,
      wrk.format("GET", "/v1/rooms/" .. line .. "/messages?limit=50",
                 {["Authorization"] = "Bearer " .. token}, nil))
  end
  math.randomseed(os.time())
end

function request()
  return requests[math.random(#requests)]
end

-- No response() callback: defining one makes wrk copy every ~17 KB body
-- into Lua, which cost the client ~5 us per page (a fifth of its CPU) on
-- a machine it shares with the server. Failures still show as wrk's own
-- "Non-2xx or 3xx responses" count, which bench/chatd_bench.py reports.
