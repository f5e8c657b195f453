"""Lua scripts: each runs atomically in Redis, so a session change, its index
entries, its cache invalidation and its event commit together (one round trip).

A session value is a msgpack array (see app/sessions/store.py for the fields);
Redis's Lua has cmsgpack built in, so scripts read and rewrite it in place.
Field positions (1-based, Lua): 1 uid, 2 email, 3 roles, 4 created, 5 seen,
6 abs, 7 idle, 8 auth, 9 ip, 10 user-agent id.
"""

from app.throttle.scripts import GATE_FUNCTION, TRUST_DEVICE_FUNCTION

# Whether the user still holds a session (its unpacked value) at ``now``: within both deadlines
# and issued after their revocation epoch (``epoch``: a number, or false for none). What a
# forced logout's epoch ended is gone for the user at once, though its key stays until the
# worker's fan-out deletes and reports it.
_HOLDS_FUNCTION = """
local function holds(t, now, epoch)
  if now >= tonumber(t[6]) or now >= tonumber(t[5]) + tonumber(t[7]) then return false end
  return not (epoch and tonumber(t[4]) <= epoch)
end
"""

# The cap on a user's sessions (session.max_per_user). spec: {now, room, most, envelope head,
# envelope middle, envelope tail, id prefix, session-key prefix, channel, replaced sid hash
# ('' for none: the session the new one replaces, which the caller ends; it neither counts nor
# is ended here, or a re-login at the cap would cost another device's session)}. Ends the user's
# least recently used sessions (the earliest idle deadline first) until they hold no
# more than ``room``, never ``keep`` (the session just opened), and at most ``most`` in one
# call, each with its auth.session.revoked event (head .. id .. middle .. handle .. tail, the
# id the prefix and a counter) and its own invalidation message, as REVOKE does.
# Sessions the user no longer holds (see holds) neither count nor are touched: the sweep and
# the forced logout's fan-out report them. They cannot slide their deadline, so they sort
# first, but index scores are whole seconds and ties come in any order: so the oldest
# ``room + 1`` (at most ``most + 1``) plus ``most`` entries are all read, and ordered by their
# idle deadlines, before any ends; at the cap that is every one (for a cap up to ``most``;
# above it the least recently used of those read, the earliest by score). Entries past those are
# presumed held (only a cap lowered, or sessions from before it, leaves more). Costs one
# ZCOUNT while under the cap, and a read of each session at it.
# Returns {over still (> 0 only when ``most`` ran out), ended}.
_TRIM_FUNCTION = """
local function trim_sessions(index, epoch_key, stream, uid, spec, keep)
  local now, room, most = tonumber(spec[1]), tonumber(spec[2]), tonumber(spec[3])
  local above = '(' .. spec[1]
  local total = redis.call('ZCOUNT', index, above, '+inf')
  if total <= room then return {0, 0} end
  local epoch = redis.call('GET', epoch_key)
  epoch = epoch and tonumber(epoch)
  local window = redis.call('ZRANGEBYSCORE', index, above, '+inf', 'LIMIT', 0, math.min(room, most) + 1 + most)
  local held, kept = {}, 0
  for _, sh in ipairs(window) do
    local v = redis.call('GET', spec[8] .. sh)
    local t = v and cmsgpack.unpack(v)
    if t and t[1] == uid and holds(t, now, epoch) then
      if sh == keep then
        kept = 1
      elseif sh == spec[10] then
        -- being replaced: the caller ends it next (reason login), so it leaves room already
      else
        -- Ordered by the idle deadline (last seen + idle timeout), not the index score's
        -- min(absolute, idle): a session in use seconds ago but near its absolute deadline is
        -- not the least recently used, and ending it first logged out the device in use.
        held[#held + 1] = {tonumber(t[5]) + tonumber(t[7]), tonumber(t[4]), sh}
      end
    end
  end
  -- By the idle deadline, then the issue time.
  table.sort(held, function(a, b)
    if a[1] ~= b[1] then return a[1] < b[1] end
    if a[2] ~= b[2] then return a[2] < b[2] end
    return a[3] < b[3]
  end)
  local over = #held + kept + (total - #window) - room
  local ended = math.min(math.max(over, 0), most, #held)
  for i = 1, ended do
    local sh = held[i][3]
    redis.call('DEL', spec[8] .. sh)
    redis.call('ZREM', index, sh)
    redis.call('XADD', stream, '*', 'event', spec[4] .. spec[7] .. string.format('%012x', i) .. spec[5]
      .. string.sub(sh, 1, 16) .. spec[6])
    redis.call('PUBLISH', spec[9], 's:' .. sh)
  end
  return {math.max(over - ended, 0), ended}
end
"""

# K: session, its user agent, the user's index, the due zset, stream, the user's epoch, the
# user's roles mark. A: value, deadline (ms), user agent, user agent expiry (s), sid hash,
# index score, index expiry (s), uid, due score, credentials read at, roles read at ('' for
# no check), the cap ('' for none, else trim_sessions' spec, msgpack); envelopes are
# A[first..]. One script rather than a MULTI of ten commands: a login's session costs one
# command to pack and one reply to parse.
# Index entries already past their deadline stay: the sweep finds expired sessions only
# through them, and reports each (auth.session.expired) as it removes it.
_CREATE_FUNCTION = _HOLDS_FUNCTION + _TRIM_FUNCTION + """
-- Before anything is written: 1 if the user's revocation epoch (a password change, a forced
-- logout) is at or after the read of the credentials, 2 if their roles changed since they
-- were read (the caller reads them again), else 0.
local function session_guard(K, A)
  local epoch = redis.call('GET', K[6])
  if epoch and tonumber(epoch) >= tonumber(A[10]) then return 1 end
  if A[11] ~= '' then
    local changed = redis.call('HGET', K[7], 'at')
    if changed and tonumber(changed) >= tonumber(A[11]) then return 2 end
  end
  return 0
end
local function create_session(K, A, first)
  redis.call('SET', K[1], A[1], 'PXAT', A[2])
  -- Shared by every session with this user agent; lives as long as the newest one may.
  redis.call('SET', K[2], A[3], 'EXAT', A[4])
  redis.call('ZADD', K[3], A[6], A[5])
  redis.call('EXPIREAT', K[3], A[7], 'NX')  -- GT alone never sets a first TTL
  redis.call('EXPIREAT', K[3], A[7], 'GT')
  -- LT: the user's entry only ever moves earlier here; the sweep moves it later.
  redis.call('ZADD', K[4], 'LT', A[9], A[8])
  for i = first, #A do redis.call('XADD', K[5], '*', 'event', A[i]) end
end
-- The cap, once the session is written: the user's oldest beyond it end (trim_sessions), and
-- how many are over still comes back (> 0 only past one call's worth: the caller goes on).
local function cap_sessions(K, A)
  if A[12] == '' then return 0 end
  return trim_sessions(K[3], K[6], K[5], A[8], cmsgpack.unpack(A[12]), A[5])[1]
end
"""

# KEYS, ARGV: as create_session's K and A, envelopes from ARGV[13]. Returns {guard, over}:
# session_guard's code (> 0: refused, nothing written), and how many sessions the user holds
# past the cap still.
CREATE = _CREATE_FUNCTION + """
local refused = session_guard(KEYS, ARGV)
if refused > 0 then return {refused, 0} end
create_session(KEYS, ARGV, 13)
return {0, cap_sessions(KEYS, ARGV)}
"""

# A login's session and its success in one atomic step (app.throttle.SuccessCommit): the
# throttle gate in 'succeed' mode first, and only if it is still open (no parallel guesses
# shut it while the password was hashed) the session, then the trusted device.
# KEYS: the seven of CREATE, then ARGV[13] gate keys, then ARGV[15] device keys (0 or 2).
# ARGV: the twelve of CREATE, gate key count, gate arg count, device key count, the gate's
# args, the device's args (2 if any), then envelopes.
# Returns {wait_ms, device_kept, guard, over}: wait_ms > 0 or guard > 0 (session_guard's
# code) means refused and nothing was written (the cap ends nothing either); over as CREATE's.
CREATE_COMMITTED = GATE_FUNCTION + TRUST_DEVICE_FUNCTION + _CREATE_FUNCTION + """
local refused = session_guard(KEYS, ARGV)
if refused > 0 then return {0, 0, refused, 0} end
local nk, na, nd = tonumber(ARGV[13]), tonumber(ARGV[14]), tonumber(ARGV[15])
local gk, ga = {}, {}
for i = 1, nk do gk[i] = KEYS[7 + i] end
for i = 1, na do ga[i] = ARGV[15 + i] end
local gate = throttle_gate(gk, ga)
if gate[1] > 0 then return {gate[1], 0, 0, 0} end
local first = 16 + na + (nd > 0 and 2 or 0)
create_session(KEYS, ARGV, first)
local kept = 0
if nd > 0 then
  kept = trust_device({KEYS[8 + nk], KEYS[9 + nk]}, {ARGV[16 + na], ARGV[17 + na]})
end
return {0, kept, 0, cap_sessions(KEYS, ARGV)}
"""

# KEYS: the user's index, their epoch, stream. ARGV: uid, trim_sessions' spec (msgpack), the
# sid hash to keep. What a login left over the cap (CREATE's over > 0), one call's worth at a
# time. Returns trim_sessions' {over, ended}.
TRIM = _HOLDS_FUNCTION + _TRIM_FUNCTION + """
return trim_sessions(KEYS[1], KEYS[2], KEYS[3], ARGV[1], cmsgpack.unpack(ARGV[2]), ARGV[3])
"""

# KEYS: session. ARGV: now, user-key prefix, touch granularity (s), session-key prefix,
# user-agent key prefix. Returns nil, or {status, value, user agent}.
CHECK = """
local v = redis.call('GET', KEYS[1])
if not v then return false end
local t = cmsgpack.unpack(v)
local ua = redis.call('GET', ARGV[5] .. t[10]) or ''
local now = tonumber(ARGV[1])
local seen, abs, idle = tonumber(t[5]), tonumber(t[6]), tonumber(t[7])
if now >= abs or now >= seen + idle then return {'expired', v, ua} end
local epoch = redis.call('GET', ARGV[2] .. t[1] .. ':epoch')
if epoch and tonumber(t[4]) <= tonumber(epoch) then return {'revoked', v, ua} end
if now - seen >= tonumber(ARGV[3]) then
  -- Write-behind of the sliding idle timeout: at most one write per granule.
  t[5] = now
  v = cmsgpack.pack(t)
  local deadline = math.min(abs, now + idle)
  redis.call('SET', KEYS[1], v, 'PXAT', math.ceil(deadline * 1000))
  redis.call('ZADD', ARGV[2] .. t[1] .. ':s', 'XX', math.ceil(deadline), string.sub(KEYS[1], #ARGV[4] + 1))
end
return {'ok', v, ua}
"""

# KEYS: stream, and optionally the user's epoch. ARGV: session-key prefix, index-key prefix,
# channel, uid, then (sid_hash, envelope) pairs, at most store.REVOKE_BATCH of them (Redis serves
# no one else while a script runs, so ending thousands is cut into calls). Deletes each session the user owns, emits its
# event only if it existed, publishes the invalidation. Returns how many ended.
# The index entry of a session whose key already vanished (its deadline passed) stays
# for the sweep, which reports it as expired; dropping it here would lose that event.
# With the epoch key, a session the epoch already ended is left alone too: the user no
# longer holds it (LIST does not show it), and the forced logout's fan-out reports it.
# One message per session, unlike the sweep: a web process of an earlier version
# (a rolling upgrade) reads one invalidation per message, and a revocation must
# reach its cache within 100 ms (invariant 1); the sweep's batched message may be
# missed by such a process harmlessly, as its cached entries lapse before the
# session's deadline anyway (app.sessions.cache).
REVOKE = """
local n = 0
local uid = ARGV[4]
local index = ARGV[2] .. uid .. ':s'
local epoch = KEYS[2] and redis.call('GET', KEYS[2])
epoch = epoch and tonumber(epoch)
for i = 5, #ARGV, 2 do
  local sh = ARGV[i]
  local key = ARGV[1] .. sh
  local v = redis.call('GET', key)
  local t = v and cmsgpack.unpack(v)
  if t and t[1] == uid and epoch and tonumber(t[4]) <= epoch then
    -- ended by the epoch already: not the caller's to end again
  elseif v then
    if t[1] == uid then
      redis.call('DEL', key)
      n = n + 1
      redis.call('XADD', KEYS[1], '*', 'event', ARGV[i + 1])
      redis.call('PUBLISH', ARGV[3], 's:' .. sh)
    end
    redis.call('ZREM', index, sh)
  end
end
return n
"""

# KEYS: the user's index, their epoch. ARGV: now, session-key prefix, user-agent key prefix,
# uid, limit, look budget. The sessions the user holds (see holds), the latest deadline first
# (the most recently used), at most ``limit`` of them, looking at no more than ``look budget``
# index entries: a flat list of (sid hash, value, user agent). The epoch is read in the same
# step as the sessions, so what a forced logout ended is never listed as live. Entries
# past their deadline (waiting for the sweep) are not even looked at, and those the epoch
# ended sort last (they can no longer slide their deadline).
LIST = _HOLDS_FUNCTION + """
local now = tonumber(ARGV[1])
local limit = tonumber(ARGV[5])
local epoch = redis.call('GET', KEYS[2])
epoch = epoch and tonumber(epoch)
local out, agents, found = {}, {}, 0
local members = redis.call('ZRANGE', KEYS[1], '+inf', '(' .. ARGV[1], 'BYSCORE', 'REV', 'LIMIT', 0, ARGV[6])
for _, sh in ipairs(members) do
  if found >= limit then break end
  local v = redis.call('GET', ARGV[2] .. sh)
  if v then
    local t = cmsgpack.unpack(v)
    if t[1] == ARGV[4] and holds(t, now, epoch) then
      local ua = agents[t[10]]
      if not ua then
        ua = redis.call('GET', ARGV[3] .. t[10]) or ''
        agents[t[10]] = ua
      end
      out[#out + 1] = sh
      out[#out + 1] = v
      out[#out + 1] = ua
      found = found + 1
    end
  end
end
return out
"""

# KEYS: due-zset, stream. ARGV: now, limit, session-key prefix, index-key prefix,
# channel, event source, time (RFC 3339). Visits users whose earliest deadline
# passed and ends their expired sessions, looking at no more than ``limit``
# sessions so one call never holds Redis for long. Event ids derive from the
# session, so overlapping sweeps cannot double-report (and Lua atomicity means
# only one of them finds it). Returns {sessions looked at, sessions ended}.
# The envelope is spliced around what varies instead of cjson-encoding a table per
# session (the sweep is Redis-bound: ~20% more sessions/s); the spliced-in hash is
# base64url, which needs no escaping, and the user id is encoded once per user.
# A user's ended sessions leave in one DEL and one ZREM, and the web processes hear
# of a whole call's worth in one invalidation message (each redis.call costs Redis
# a few us, and each message costs every subscribed process a wake-up): ~20% more
# sessions/s. Lists are flushed at FLUSH_AT entries, far under what Lua's unpack() takes (~8,000).
SWEEP = """
local now = tonumber(ARGV[1])
local budget = tonumber(ARGV[2])
local FLUSH_AT = 500
local users = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, budget)
local looked, ended = 0, 0
local gone = {}
local function announce()
  if #gone > 0 then redis.call('PUBLISH', ARGV[5], table.concat(gone, '\\n')) end
  gone = {}
end
local dead, dead_keys = {}, {}
local function bury(index)
  if #dead_keys > 0 then redis.call('DEL', unpack(dead_keys)) end
  if #dead > 0 then redis.call('ZREM', index, unpack(dead)) end
  dead, dead_keys = {}, {}
end
local head = '{"specversion":"1.0","type":"auth.session.expired","datacontenttype":"application/json",'
  .. '"source":' .. cjson.encode(ARGV[6]) .. ',"time":' .. cjson.encode(ARGV[7]) .. ',"id":"session-expired-'
for _, uid in ipairs(users) do
  if looked >= budget then break end
  local subject = cjson.encode(uid)
  local index = ARGV[4] .. uid .. ':s'
  local due = redis.call('ZRANGEBYSCORE', index, '-inf', ARGV[1], 'LIMIT', 0, budget - looked)
  for _, sh in ipairs(due) do
    looked = looked + 1
    local key = ARGV[3] .. sh
    local v = redis.call('GET', key)
    local deadline = nil
    if v then
      local t = cmsgpack.unpack(v)
      deadline = math.min(tonumber(t[6]), tonumber(t[5]) + tonumber(t[7]))
    end
    if deadline and deadline > now then
      redis.call('ZADD', index, math.ceil(deadline), sh)
    else
      -- Gone on its own (key TTL) or due now: either way it expired unreported.
      if v then dead_keys[#dead_keys + 1] = key end
      dead[#dead + 1] = sh
      gone[#gone + 1] = 's:' .. sh
      local envelope = head .. sh .. '","subject":' .. subject .. ',"data":{"handle":"'
        .. string.sub(sh, 1, 16) .. '"}}'
      redis.call('XADD', KEYS[2], '*', 'event', envelope)
      ended = ended + 1
      if #dead >= FLUSH_AT then bury(index) end
      if #gone >= FLUSH_AT then announce() end
    end
  end
  bury(index)
  local first = redis.call('ZRANGE', index, 0, 0, 'WITHSCORES')
  if #first == 0 then
    redis.call('ZREM', KEYS[1], uid)
  else
    redis.call('ZADD', KEYS[1], first[2], uid)
  end
end
announce()
-- Users fixed up without a session due still count as work, so a driver loops on.
return {math.max(looked, #users), ended}
"""

# KEYS: session. ARGV: email, roles. Rewrites the denormalised profile of a live
# session; a missing key stays missing (a write must not resurrect it).
# KEYS[1] the user's revocation epoch; ARGV: the epoch, its TTL (s). Only ever raised: two
# revocations racing may write in the other order than they took their epochs, and a plain
# SET would then move the epoch back past what the later call (already returned) revoked.
# Optionally guarded by the caller's credential (record.HeldCredential): KEYS[2] its session
# (or ''), KEYS[3] its token's revocation entry (or ''), ARGV[3] its issue time. Then raised
# only while the caller still holds it: the session exists, the token is not revoked, and no
# epoch at or after the credential was set. Returns -1 (refused, nothing set), 0 or 1.
RAISE_EPOCH = """
local current = redis.call('GET', KEYS[1])
if ARGV[3] then
  if current and tonumber(current) >= tonumber(ARGV[3]) then return -1 end
  if KEYS[2] ~= '' and redis.call('EXISTS', KEYS[2]) == 0 then return -1 end
  if KEYS[3] ~= '' and redis.call('EXISTS', KEYS[3]) == 1 then return -1 end
end
if current and tonumber(current) >= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"""

SET_PROFILE = """
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local t = cmsgpack.unpack(v)
t[2] = ARGV[1]
t[3] = ARGV[2]
redis.call('SET', KEYS[1], cmsgpack.pack(t), 'KEEPTTL')
return 1
"""
