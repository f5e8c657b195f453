-- POST /auth/login, cycling through the JSON bodies in BENCH_BODIES (one per line, one per
-- account): successful logins spread over accounts, so no account reaches session.max_per_user
-- and a login's figure is not that of ending an old session as well.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

local bodies = {}
for line in string.gmatch(os.getenv("BENCH_BODIES") or "", "[^\n]+") do
    bodies[#bodies + 1] = line
end
local next_body = 0

function request()
    next_body = next_body % #bodies + 1
    return wrk.format(nil, nil, nil, bodies[next_body])
end
