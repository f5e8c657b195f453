"""Lua for the throttle: the gate is evaluated and the outcome recorded in one
atomic step, so concurrent attempts (many web processes, many connections) see
one consistent counter."""

# A counter's wait in seconds (<= 0: open). Shared with scripts of other modules that
# check the per-IP gate inside their own atomic step (the refresh-token rotation).
COUNTER_WAIT = """
local function counter_wait(key, now, free, block, base, maxd, window)
  local f = redis.call('HMGET', key, 'n', 'last')
  local n = tonumber(f[1] or '0')
  if n <= 0 then return 0 end
  local last = tonumber(f[2] or '0')
  if block > 0 and n >= block then return last + window - now end
  if n >= free then return last + math.min(maxd, base * 2 ^ (n - free)) - now end
  return 0
end
"""

# The gate as a function of key and argument tables, so another module's script can commit
# an outcome in its own atomic step (a login's success and its session: app.sessions).
# K[1]: the presented device token's key (a key that never exists if none).
# K[2..]: counter hashes {n, last}.
# A: mode ('check' | 'fail' | 'succeed'), now, account id (what a trusted device
# must be bound to), then per counter: free, block_after, base, max, window, class, on_success.
# class: "a" always applies, "d" only with a trusted device, "n" only without.
# on_success: "reset" (account-side counters) or "keep" (the per-IP one: a success
# must not wipe the failures of a spraying address).
# Returns {wait_ms, trusted}. wait_ms > 0: the gate is shut and nothing was recorded;
# the caller refuses whatever the outcome was, so a burst of parallel guesses
# learns at most as many outcomes as the counters allow.
GATE_FUNCTION = COUNTER_WAIT + """
local function throttle_gate(K, A)
  local mode = A[1]
  local now = tonumber(A[2])
  local trusted = 0
  if A[3] ~= '' and redis.call('GET', K[1]) == A[3] then trusted = 1 end
  local applies = {}
  local wait = 0
  for i = 2, #K do
    local a = 4 + (i - 2) * 7
    local class = A[a + 5]
    if class == 'a' or (class == 'd' and trusted == 1) or (class == 'n' and trusted == 0) then
      table.insert(applies, {K[i], tonumber(A[a + 4]), A[a + 6]})
      local w = counter_wait(K[i], now, tonumber(A[a]), tonumber(A[a + 1]), tonumber(A[a + 2]),
                             tonumber(A[a + 3]), tonumber(A[a + 4]))
      if w > wait then wait = w end
    end
  end
  if wait > 0 then return {math.ceil(wait * 1000), trusted} end
  if mode == 'fail' then
    for _, c in ipairs(applies) do
      redis.call('HINCRBY', c[1], 'n', 1)
      redis.call('HSET', c[1], 'last', A[2])
      redis.call('EXPIRE', c[1], c[2])
    end
  elseif mode == 'succeed' then
    for i = 2, #K do
      if A[4 + (i - 2) * 7 + 6] == 'reset' then redis.call('DEL', K[i]) end
    end
  end
  return {0, trusted}
end
"""

# KEYS, ARGV: as throttle_gate's K and A.
GATE = GATE_FUNCTION + """
return throttle_gate(KEYS, ARGV)
"""

# K[1]: the presented device token's key (a key that never exists if none), K[2]: a new
# token's key. A: the account hash it must be bound to, ttl (s). Returns 1 if the presented
# token is bound to the account (its life extended), else 0 (the new token was stored). One
# write whether or not the browser came back with its token.
TRUST_DEVICE_FUNCTION = """
local function trust_device(K, A)
  if redis.call('GET', K[1]) == A[1] then
    redis.call('EXPIRE', K[1], A[2])
    return 1
  end
  redis.call('SET', K[2], A[1], 'EX', A[2])
  return 0
end
"""

# KEYS, ARGV: as trust_device's K and A.
TRUST_DEVICE = TRUST_DEVICE_FUNCTION + """
return trust_device(KEYS, ARGV)
"""
