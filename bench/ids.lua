-- Shared by the scripts that act on seeded records: each wrk thread takes every other id of
-- a file, so two threads never act on the same record.
local thread_count = 0

function setup(thread)
  thread:set("tid", thread_count)
  thread_count = thread_count + 1
end

-- Loads this thread's half of the ids in the file named by $<env_var>.
function load_ids(env_var)
  ids, visits, next_index = {}, {}, 0
  local n = 0
  for line in io.lines(os.getenv(env_var)) do
    if n % 2 == tid then
      ids[#ids + 1] = line
    end
    n = n + 1
  end
end

-- The next record in turn, and how many times this thread has visited it (1 the first time).
function next_record()
  next_index = next_index % #ids + 1
  local id = ids[next_index]
  visits[id] = (visits[id] or 0) + 1
  return id, visits[id]
end

function bearer(extra)
  local headers = {["content-type"] = "application/json", ["authorization"] = "Bearer " .. os.getenv("TOKEN")}
  for k, v in pairs(extra or {}) do
    headers[k] = v
  end
  return headers
end
