-- POST /api/v1/opportunities/{id}/stage over the deals in $OPP_IDS_FILE (seeded by
-- bench/seed_flow.py with the exit requirements cleared): each deal moves forward one stage
-- per visit, needs_confirmed → solution_demo → quote_approval → contract_signing →
-- payment_tracking (won), so the ids last four passes.
dofile("bench/ids.lua")
local stages = {"solution_demo", "quote_approval", "contract_signing", "payment_tracking"}

function init(args)
  load_ids("OPP_IDS_FILE")
end

function request()
  local id, k = next_record()
  return wrk.format("POST", "/api/v1/opportunities/" .. id .. "/stage", bearer(),
    '{"to":"' .. (stages[k] or "payment_tracking") .. '"}')
end
