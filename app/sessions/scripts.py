"""Lua scripts: each runs atomically in Redis, so a session change, its index
entries, its cache invalidation and its event commit together (one round trip)."""

# KEYS: session, expiry-zset. ARGV: now, user-key prefix, touch granularity (s).
# Returns nil, or {status, uid, email, roles, created, seen, abs, idle, auth, ip, ua}.
CHECK = """
local f = redis.call('HMGET', KEYS[1], 'uid','email','roles','created','seen','abs','idle','auth','ip','ua')
if not f[1] then return false end
local now = tonumber(ARGV[1])
local seen, abs, idle = tonumber(f[5]), tonumber(f[6]), tonumber(f[7])
if now >= abs or now >= seen + idle then
  return {'expired', f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], f[9], f[10]}
end
local epoch = redis.call('GET', ARGV[2] .. f[1] .. ':epoch')
if epoch and tonumber(f[4]) <= tonumber(epoch) then
  return {'revoked', f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], f[9], f[10]}
end
if now - seen >= tonumber(ARGV[3]) then
  -- Write-behind of the sliding idle timeout: at most one write per granule.
  f[5] = ARGV[1]
  local deadline = math.min(abs, now + idle)
  redis.call('HSET', KEYS[1], 'seen', ARGV[1])
  redis.call('PEXPIREAT', KEYS[1], math.ceil(deadline * 1000))
  local sh = string.sub(KEYS[1], #ARGV[4] + 1)
  redis.call('ZADD', KEYS[2], deadline, f[1] .. '|' .. sh)
end
return {'ok', f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], f[9], f[10]}
"""

# KEYS: expiry-zset, stream. ARGV: session-key prefix, index-key prefix, channel, uid,
# then (sid_hash, envelope) pairs. Deletes each session the user owns, emits its
# event only if it existed, publishes the invalidation. Returns how many ended.
REVOKE = """
local n = 0
local uid = ARGV[4]
local index = ARGV[2] .. uid .. ':s'
for i = 5, #ARGV, 2 do
  local sh = ARGV[i]
  local key = ARGV[1] .. sh
  if redis.call('HGET', key, 'uid') == uid then
    redis.call('DEL', key)
    n = n + 1
    redis.call('XADD', KEYS[2], '*', 'event', ARGV[i + 1])
    redis.call('PUBLISH', ARGV[3], 's:' .. sh)
  end
  redis.call('ZREM', index, sh)
  redis.call('ZREM', KEYS[1], uid .. '|' .. sh)
end
return n
"""

# KEYS: expiry-zset, stream. ARGV: now, limit, session-key prefix, index-key prefix,
# channel, event source, time (RFC 3339). Ends sessions whose deadline passed, in
# one bounded batch; event ids derive from the session so overlapping sweeps
# cannot double-report (and Lua atomicity means only one of them finds it).
SWEEP = """
local now = tonumber(ARGV[1])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local ended = 0
for _, member in ipairs(due) do
  local sep = string.find(member, '|', 1, true)
  local uid, sh = string.sub(member, 1, sep - 1), string.sub(member, sep + 1)
  local key = ARGV[3] .. sh
  local f = redis.call('HMGET', key, 'seen', 'abs', 'idle')
  local deadline = nil
  if f[1] then deadline = math.min(tonumber(f[2]), tonumber(f[1]) + tonumber(f[3])) end
  if deadline and deadline > now then
    redis.call('ZADD', KEYS[1], deadline, member)
  else
    redis.call('DEL', key)
    redis.call('ZREM', ARGV[4] .. uid .. ':s', sh)
    redis.call('ZREM', KEYS[1], member)
    redis.call('PUBLISH', ARGV[5], 's:' .. sh)
    local envelope = cjson.encode({
      specversion = '1.0', id = 'session-expired-' .. sh, source = ARGV[6],
      type = 'auth.session.expired', time = ARGV[7], subject = uid,
      datacontenttype = 'application/json', data = {handle = string.sub(sh, 1, 16)}})
    redis.call('XADD', KEYS[2], '*', 'event', envelope)
    ended = ended + 1
  end
end
return {#due, ended}
"""
