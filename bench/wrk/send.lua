-- Durable message send: POST /v1/rooms/{room}/messages to a random room of
-- the bench user, with a unique client_msg_id per request.
-- args: TOKEN ROOMS_FILE
local rooms = {}
local token
local counter = 0
local thread_id = 0
local threads = {}
local text = string.rep("x", 160) -- with the JSON around it: ~200 bytes

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  token = args[1]
  for line in io.lines(args[2]) do table.insert(rooms, line) end
  thread_id = tid or 0
  math.randomseed(os.time() + thread_id * 7919)
end

function request()
  counter = counter + 1
  local room = rooms[math.random(#rooms)]
  local body = string.format('{"text":"%s %d","client_msg_id":"b%d-%d-%d"}',
                             text, counter, thread_id, os.time(), counter)
  return wrk.format("POST", "/v1/rooms/" .. room .. "/messages",
                    {["Authorization"] = "Bearer " .. token,
                     ["Content-Type"] = "application/json"}, body)
end

function response(status, headers, body)
  if status ~= 201 then
    io.stderr:write("unexpected status " .. status .. ": " .. body .. "\n")
  end
end
