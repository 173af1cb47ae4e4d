-- PATCH /api/v1/leads/$LEAD_ID with If-Match: the version is read back from each answer.
local version = nil

function request()
  local headers = {["content-type"] = "application/json", ["authorization"] = "Bearer " .. os.getenv("TOKEN")}
  if version then
    headers["if-match"] = '"' .. version .. '"'
  end
  return wrk.format("PATCH", "/api/v1/leads/" .. os.getenv("LEAD_ID"), headers, '{"notes":"压测更新"}')
end

function response(status, headers, body)
  local etag = headers["etag"] or headers["ETag"]
  if etag then
    version = string.gsub(etag, '"', '')
  end
end
