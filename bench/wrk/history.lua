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

function response(status, headers, body)
  if status ~= 200 then
    io.stderr:write("unexpected status " .. status .. "\n")
  end
end
