-- POST /api/v1/contracts/{id}/payments over the signed contracts in $CONTRACT_IDS_FILE
-- (bench/seed_flow.py: 12 installments of 10,000.00 each): each visit pays a contract's
-- next installment with a new bank transaction id, so every payment passes the checks.
dofile("bench/ids.lua")

function init(args)
  ids, paid, next_index, serial = ids_of(os.getenv("CONTRACT_IDS_FILE")), {}, 0, 0
  paid_at = os.date("!%Y-%m-%dT%H:%M:%SZ")
end

function request()
  next_index = next_index % #ids + 1
  serial = serial + 1
  local id = ids[next_index]
  local seq = (paid[id] or 0) + 1
  paid[id] = seq
  local body = string.format('{"bank_txn_id":"BENCH-%d-%d","amount_cents":1000000,"paid_at":"%s","installment_seq":%d}',
    tid, serial, paid_at, seq)
  return wrk.format("POST", "/api/v1/contracts/" .. id .. "/payments", bearer(), body)
end
