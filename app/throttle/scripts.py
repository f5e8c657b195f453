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
# K[1]: the device index of the attempt's account (a key that never exists if no device).
# K[2..]: counter hashes {n, last}.
# A: mode ('check' | 'fail' | 'succeed'), now, the presented device token's hash ('' if none:
# trusted if the index holds it unexpired), then per counter: free, block_after, base, max,
# window, class, on_success.
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
  if A[3] ~= '' then
    local expires = redis.call('ZSCORE', K[1], A[3])
    if expires and tonumber(expires) > now then trusted = 1 end
  end
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

# K[1]: the account's device index (zset: token hash -> when its trust expires), K[2]: when
# the account's devices were last revoked. A[1]: 'presented new', the hashes of the presented
# token ('-' if none) and of a new one; A[2]: 'since ttl cap', since: when the login read the
# credentials. (Two arguments, space-separated inside: the session script passes two.)
# Returns 1 if the presented token is in the index (its life extended), else 0: the new token
# was stored, unless the credentials were read before the last revocation (a login that raced
# a password change, MFA enrolment or forced logout trusts nothing). One call whether or not the
# browser came back with its token. Expired entries are dropped, then the oldest past ``cap``;
# the index expires with its newest entry, so neither a busy nor an abandoned account's grows.
TRUST_DEVICE_FUNCTION = """
local function trust_device(K, A)
  local presented, new = string.match(A[1], '^(%S+) (%S+)$')
  local since, ttl, cap = string.match(A[2], '^(%S+) (%S+) (%S+)$')
  since, ttl, cap = tonumber(since), tonumber(ttl), tonumber(cap)
  local kept = 0
  local expires = redis.call('ZSCORE', K[1], presented)
  if expires and tonumber(expires) > since then
    redis.call('ZADD', K[1], 'GT', since + ttl, presented)
    kept = 1
  else
    local revoked = redis.call('GET', K[2])
    if revoked and tonumber(revoked) >= since then return 0 end
    redis.call('ZADD', K[1], since + ttl, new)
  end
  redis.call('ZREMRANGEBYSCORE', K[1], '-inf', since)
  local over = redis.call('ZCARD', K[1]) - cap
  if over > 0 then redis.call('ZREMRANGEBYRANK', K[1], 0, over - 1) end
  local newest = redis.call('ZRANGE', K[1], -1, -1, 'WITHSCORES')
  if #newest > 0 then redis.call('EXPIREAT', K[1], math.ceil(tonumber(newest[2]))) end
  return kept
end
"""

# KEYS, ARGV: as trust_device's K and A.
TRUST_DEVICE = TRUST_DEVICE_FUNCTION + """
return trust_device(KEYS, ARGV)
"""

# KEYS: the account's device index, its revocation mark (as trust_device's). ARGV: now, the hash
# of a token to keep ('' for none: kept only if the index holds it unexpired), the mark's life (s).
# Every other device of the account stops being trusted at once, and a login whose credentials
# were read before now trusts nothing (trust_device). Returns how many devices were revoked.
REVOKE_DEVICES = """
local now = tonumber(ARGV[1])
local kept = false
if ARGV[2] ~= '' then kept = redis.call('ZSCORE', KEYS[1], ARGV[2]) end
local n = redis.call('ZCOUNT', KEYS[1], '(' .. ARGV[1], '+inf')
redis.call('DEL', KEYS[1])
if kept and tonumber(kept) > now then
  redis.call('ZADD', KEYS[1], kept, ARGV[2])
  redis.call('EXPIREAT', KEYS[1], math.ceil(tonumber(kept)))
  n = n - 1
end
local mark = redis.call('GET', KEYS[2])
if not mark or tonumber(mark) < now then mark = ARGV[1] end
redis.call('SET', KEYS[2], mark, 'EX', ARGV[3])
return n
"""
