-- History page: the latest 50 messages of a random room.
-- args: TOKEN ROOMS_FILE
local rooms = {}
local token

function init(args)
  token = args[1]
  for line in io.lines(args[2]) do table.insert(rooms, line) end
  math.randomseed(os.time())
end

function request()
  local room = rooms[math.random(#rooms)]
  return wrk.format("GET", "/v1/rooms/" .. room .. "/messages?limit=50",
                    {["Authorization"] = "Bearer " .. token}, nil)
end

-- No response() callback: defining one makes wrk copy every ~17 KB body
-- into Lua, which cost the client ~5 us per page (a fifth of its CPU) on
-- a machine it shares with the server. Failures still show as wrk's own
-- "Non-2xx or 3xx responses" count, which bench/chatd_bench.py reports.
