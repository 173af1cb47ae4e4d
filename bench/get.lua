-- GET the path in $BENCH_PATH with the bearer token in $TOKEN.
function request()
  return wrk.format("GET", os.getenv("BENCH_PATH"), {["authorization"] = "Bearer " .. os.getenv("TOKEN")})
end
