-- PATCH /api/v1/leads/{id} with If-Match over the seeded leads in $LEAD_IDS_FILE: each wrk
-- thread cycles through its own half of the ids and keeps the version each answer returns,
-- so requests only conflict if two connections reach the same lead at once.
local thread_count = 0

function setup(thread)
  thread:set("tid", thread_count)
  thread_count = thread_count + 1
end

function init(args)
  ids, versions, next_index = {}, {}, 0
  local n = 0
  for line in io.lines(os.getenv("LEAD_IDS_FILE")) do
    if n % 2 == tid then
      ids[#ids + 1] = line
    end
    n = n + 1
  end
end

function request()
  next_index = next_index % #ids + 1
  local id = ids[next_index]
  local headers = {
    ["content-type"] = "application/json",
    ["authorization"] = "Bearer " .. os.getenv("TOKEN"),
    ["if-match"] = '"' .. (versions[id] or 1) .. '"',
  }
  return wrk.format("PATCH", "/api/v1/leads/" .. id, headers, '{"notes":"压测更新"}')
end

function response(status, headers, body)
  local id = string.match(body, '"id":"([^"]+)"')
  local etag = headers["etag"] or headers["ETag"]
  if id and etag then
    versions[id] = string.gsub(etag, '"', '')
  end
end
