-- POST /api/v1/work-orders/{id}/transition over the work orders in $WO_IDS_FILE: accepted
-- first, then waiting on the customer and back, a pair a work order can repeat any number
-- of times (each pause is timed and excluded from the SLA).
dofile("bench/ids.lua")

function init(args)
  load_ids("WO_IDS_FILE")
end

function request()
  local id, k = next_record()
  local body = '{"to":"accepted"}'
  if k % 2 == 0 then
    body = '{"to":"waiting_customer","reason":"等客户确认停机时间"}'
  end
  return wrk.format("POST", "/api/v1/work-orders/" .. id .. "/transition", bearer(), body)
end
