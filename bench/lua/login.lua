-- POST /auth/login with a JSON body from BENCH_BODY (one account; successful logins).
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/json"
