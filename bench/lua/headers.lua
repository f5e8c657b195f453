-- Sends one fixed header (a cookie or a Bearer token) with every request.
-- Configured by the environment: BENCH_HEADER_NAME, BENCH_HEADER_VALUE.
local name = os.getenv("BENCH_HEADER_NAME")
local value = os.getenv("BENCH_HEADER_VALUE")
if name and value then
  wrk.headers[name] = value
end
