-- Refresh-token grants. Each wrk thread owns exactly one connection (run with -tN -cN),
-- so a thread-local variable is that connection's current refresh token: every grant
-- spends the token the previous reply handed out (reuse would revoke the family).
-- BENCH_TOKENS: the threads' starting refresh tokens, comma-separated.
local counter = 0
local threads = {}

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

function init(args)
  local tokens = {}
  for t in string.gmatch(os.getenv("BENCH_TOKENS") or "", "[^,]+") do
    table.insert(tokens, t)
  end
  token = tokens[id]
  failures = 0
end

function request()
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"},
    '{"grant_type":"refresh_token","refresh_token":"' .. token .. '"}')
end

function response(status, headers, body)
  local t = string.match(body, '"refresh_token"%s*:%s*"([^"]+)"')
  if status == 200 and t then
    token = t
  else
    failures = failures + 1
  end
end
