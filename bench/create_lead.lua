-- POST /api/v1/leads with a new lead per request (unique phone and company).
local counter = 0
local thread_id = 0
local threads = {}

function setup(thread)
  thread:set("tid", thread_id)
  thread_id = thread_id + 1
end

function request()
  counter = counter + 1
  local n = tid * 10000000 + counter
  local body = string.format(
    '{"name":"压测%d","company":"压测%08x%08x有限公司","phone":"1%010d","province":"江苏","industry":"新能源汽车","source":"web_form","budget_cents":60000000}',
    n, math.random(0, 2147483647), math.random(0, 2147483647), 3000000000 + n)
  return wrk.format("POST", "/api/v1/leads", {["content-type"] = "application/json", ["authorization"] = "Bearer " .. os.getenv("TOKEN")}, body)
end
