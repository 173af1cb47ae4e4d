-- POST /api/v1/opportunities/{id}/stage over the deals in $OPP_IDS_FILE (seeded by
-- bench/seed_flow.py with the exit requirements cleared): each deal moves forward one stage
-- per visit, needs_confirmed → solution_demo → quote_approval → contract_signing →
-- payment_tracking (won), so the ids last four passes.
dofile("bench/ids.lua")
local stages = {"solution_demo", "quote_approval", "contract_signing", "payment_tracking"}

function init(args)
  ids, moves, next_index = ids_of(os.getenv("OPP_IDS_FILE")), {}, 0
end

function request()
  next_index = next_index % #ids + 1
  local id = ids[next_index]
  local k = (moves[id] or 0) + 1
  moves[id] = k
  return wrk.format("POST", "/api/v1/opportunities/" .. id .. "/stage", bearer(),
    '{"to":"' .. (stages[k] or "payment_tracking") .. '"}')
end
