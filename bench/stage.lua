-- POST /api/v1/opportunities/{id}/stage over the deals in $OPP_IDS_FILE (seeded by
-- bench/seed_flow.py with the exit requirements cleared): each visit moves a deal one stage,
-- needs_confirmed → solution_demo → quote_approval → contract_signing, then back to
-- needs_confirmed (the bench's token is an admin's, and a move backwards names a reason:
-- a recorded regression), so the deals never run out of moves and none is won.
dofile("bench/ids.lua")
local stages = {"solution_demo", "quote_approval", "contract_signing"}

function init(args)
  load_ids("OPP_IDS_FILE")
end

function request()
  local id, k = next_record()
  local to = stages[(k - 1) % 4 + 1]
  local body = to and ('{"to":"' .. to .. '"}')
    or '{"to":"needs_confirmed","reason":"bench: the cycle starts over"}'
  return wrk.format("POST", "/api/v1/opportunities/" .. id .. "/stage", bearer(), body)
end
