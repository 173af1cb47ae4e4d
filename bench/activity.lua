-- POST /api/v1/leads/{id}/activities over the seeded leads in $LEAD_IDS_FILE: a reached
-- phone follow-up with its next action, the structured action a rep logs many times a day.
dofile("bench/ids.lua")

function init(args)
  load_ids("LEAD_IDS_FILE")
end

function request()
  local id = next_record()
  local body = '{"channel":"phone","action":"follow_up","reached":true,"summary":"压测跟进：确认产线改造预算",'
    .. '"next_action":"follow_up","next_action_due_at":"2027-06-01T02:00:00Z"}'
  return wrk.format("POST", "/api/v1/leads/" .. id .. "/activities", bearer(), body)
end
