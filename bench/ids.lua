-- Shared by the scripts that act on seeded records: each wrk thread takes every other id of
-- a file, so two threads never act on the same record.
local thread_count = 0

function setup(thread)
  thread:set("tid", thread_count)
  thread_count = thread_count + 1
end

function ids_of(file)
  local ids, n = {}, 0
  for line in io.lines(file) do
    if n % 2 == tid then
      ids[#ids + 1] = line
    end
    n = n + 1
  end
  return ids
end

function bearer(extra)
  local headers = {["content-type"] = "application/json", ["authorization"] = "Bearer " .. os.getenv("TOKEN")}
  for k, v in pairs(extra or {}) do
    headers[k] = v
  end
  return headers
end
