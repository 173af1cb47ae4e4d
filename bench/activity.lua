-- POST /api/v1/leads/{id}/activities over the seeded leads in $LEAD_IDS_FILE: a reached
-- phone follow-up with its next action, the structured action a rep logs many times a day.
local thread_count = 0

function setup(thread)
  thread:set("tid", thread_count)
  thread_count = thread_count + 1
end

function init(args)
  ids, next_index = {}, 0
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
  local headers = {
    ["content-type"] = "application/json",
    ["authorization"] = "Bearer " .. os.getenv("TOKEN"),
  }
  local body = '{"channel":"phone","action":"follow_up","reached":true,"summary":"压测跟进：确认产线改造预算",'
    .. '"next_action":"follow_up","next_action_due_at":"2027-06-01T02:00:00Z"}'
  return wrk.format("POST", "/api/v1/leads/" .. ids[next_index] .. "/activities", headers, body)
end
