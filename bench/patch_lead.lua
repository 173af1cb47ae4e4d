-- PATCH /api/v1/leads/{id} with If-Match over the seeded leads in $LEAD_IDS_FILE: each wrk
-- thread cycles through its own half of the ids and keeps the version each answer returns,
-- so requests only conflict if two connections reach the same lead at once.
dofile("bench/ids.lua")

function init(args)
  load_ids("LEAD_IDS_FILE")
  versions = {}
end

function request()
  local id = next_record()
  return wrk.format("PATCH", "/api/v1/leads/" .. id, bearer({["if-match"] = '"' .. (versions[id] or 1) .. '"'}),
    '{"notes":"压测更新"}')
end

function response(status, headers, body)
  local id = string.match(body, '"id":"([^"]+)"')
  local etag = headers["etag"] or headers["ETag"]
  if id and etag then
    versions[id] = string.gsub(etag, '"', '')
  end
end
