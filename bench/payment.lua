-- POST /api/v1/contracts/{id}/payments over the signed contracts in $CONTRACT_IDS_FILE
-- (bench/seed_flow.py: 12 installments of 10,000.00 each): each visit pays a contract's
-- next installment with a new bank transaction id, so every payment passes the checks.
dofile("bench/ids.lua")

function init(args)
  load_ids("CONTRACT_IDS_FILE")
  serial = 0
  paid_at = os.date("!%Y-%m-%dT%H:%M:%SZ")
end

function request()
  serial = serial + 1
  local id, seq = next_record()
  local body = string.format('{"bank_txn_id":"BENCH-%d-%d","amount_cents":1000000,"paid_at":"%s","installment_seq":%d}',
    tid, serial, paid_at, seq)
  return wrk.format("POST", "/api/v1/contracts/" .. id .. "/payments", bearer(), body)
end
