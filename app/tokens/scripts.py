"""Lua scripts for refresh families and the revocation list. Each runs atomically,
so a rotation, its bookkeeping, its cache invalidation and its event commit
together in one round trip.

Keys (``P`` = "<prefix>:"):
  P rt:<h>        refresh token record (hash): fam uid exp state(live|spent) spent next blob;
                  ``h`` is the SHA-256 of the token; kept until the family's absolute
                  expiry so a spent token is recognised when it comes back. While it is the
                  family's current token: shared (how many grace replies that have not failed
                  handed it out) and, if its rotation failed while it was shared, undo undo_jti
                  undo_event (see UNDO_ROTATION)
  P rf:<fam>      family (hash): uid created abs auth revoked(0|1) current
  P rf:<fam>:j    zset: jti of access tokens issued in the family -> their exp
  P u:<uid>:t     zset: the user's families -> absolute expiry (for revoke-all)
  P u:<uid>:epoch the user's revocation epoch (set by app.sessions)
  P u:<uid>:roles hash {v, r}: the user's directly held roles (r, comma-separated) as a refresh
                  last read them from Postgres, under version v; app.sessions replaces it by a
                  fresh v without r when the roles change, so a refresh reads Postgres only then
  P token-due     zset: user -> earliest family expiry in their index (the sweep's work list)
  P rv:<jti>      revocation entry of one access token, expiring when the token does

A refresh is one round trip when the roles are known: the per-IP throttle gate, the
rotation and the roles are read in one script.

Event envelopes come from Python with ``subject`` null; scripts fill in the user and
the family they only learn here. A refresh sends one envelope (its ``auth.token.refreshed``
event): the hot path fills its placeholders by substitution, and the events of the rare
outcomes (reuse, a revoked family) are made from it in Lua, so a grant encodes one
envelope in Python instead of three and decodes none in Redis.
"""

from app.throttle.scripts import COUNTER_WAIT

# Shared helpers, prepended to each script. ARGV positions are per script; helpers take values.
_COMMON = """
local P = ARGV[1]
-- A name-based id (UUID-shaped, version 5 style) for another event of the same request
-- (or one of several that one call makes from one envelope).
local function derived_id(id, tag)
  local h = redis.sha1hex(id .. ' ' .. tag)
  local v = tonumber(string.sub(h, 17, 17), 16) % 4 + 1
  local variant = string.sub('89ab', v, v)
  return string.sub(h, 1, 8) .. '-' .. string.sub(h, 9, 12) .. '-5' .. string.sub(h, 14, 16) .. '-' .. variant
         .. string.sub(h, 18, 20) .. '-' .. string.sub(h, 21, 32)
end
local function emit(stream, template, uid, fam, reason, id_tag)
  local e = cjson.decode(template)
  if id_tag then e['id'] = derived_id(e['id'], id_tag) end
  e['subject'] = uid
  if fam then e['data']['family'] = fam end
  if reason then e['data']['reason'] = reason end
  redis.call('XADD', stream, '*', 'event', cjson.encode(e))
end
local function revoke_jti(jti, exp, leeway, channel, now)
  if exp + leeway <= now then return 0 end
  local added = redis.call('SET', P .. 'rv:' .. jti, '1', 'EXAT', math.ceil(exp + leeway), 'NX')
  redis.call('PUBLISH', channel, 'j:' .. jti)
  if added then return 1 end
  return 0
end
-- Marks the family revoked and revokes its live access tokens; returns how many things
-- were revoked (the family counts one), 0 if it was revoked already.
local function revoke_family(fam, uid, now, leeway, channel)
  local fkey = P .. 'rf:' .. fam
  local state = redis.call('HGET', fkey, 'revoked')
  redis.call('ZREM', P .. 'u:' .. uid .. ':t', fam)
  if state == false or state == '1' then return 0 end
  redis.call('HSET', fkey, 'revoked', '1')
  local n = 1
  local jtis = redis.call('ZRANGEBYSCORE', fkey .. ':j', now - leeway, '+inf', 'WITHSCORES')
  for i = 1, #jtis, 2 do
    n = n + revoke_jti(jtis[i], tonumber(jtis[i + 1]), leeway, channel, now)
  end
  return n
end
"""

# For REFRESH: its envelope (ARGV[12]) carries "subject":null and "family":null placeholders.
# Neither can occur inside a JSON string (its quotes would be escaped), so the first match is
# the field itself.
_REFRESH_EVENTS = """
local function fill(envelope, name, value)
  local i, j = string.find(envelope, '"' .. name .. '":null', 1, true)
  return string.sub(envelope, 1, i - 1) .. '"' .. name .. '":"' .. value .. '"' .. string.sub(envelope, j + 1)
end
local function refreshed_event(uid, fam)
  return fill(fill(ARGV[12], 'subject', uid), 'family', fam)
end
-- ``kind`` nil: the refreshed event itself (with a reason); else an event of that type with
-- the request's context but not the grant's fields.
local function related_event(kind, uid, fam, reason)
  local e = cjson.decode(ARGV[12])
  if kind then
    e['type'] = kind
    e['id'] = derived_id(e['id'], kind)
    e['data']['grant_type'] = nil
    e['data']['jti'] = nil
  end
  e['subject'] = uid
  e['data']['family'] = fam
  if reason then e['data']['reason'] = reason end
  return cjson.encode(e)
end
local function append(stream, envelope) redis.call('XADD', stream, '*', 'event', envelope) end
"""

# KEYS: new token record, family, family jtis, user index, due zset, stream.
# ARGV: P, fam, uid, now, abs, auth_time, token exp, new hash, jti, jti exp, roles read at,
# then envelopes.
# A password grant: a new family with its first refresh token and access jti, dated now (the
# read of the credentials). Returns {outcome, epoch}: 'ok' and the user's revocation epoch
# (or '0'), which the access token is dated after; or, writing nothing, 'revoked' (the
# user's epoch is at or after now) or 'roles' (the roles changed since they were read: the
# caller reads them again).
ISSUE = _COMMON + """
local fam, uid, now, abs = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local epoch = redis.call('GET', P .. 'u:' .. uid .. ':epoch') or '0'
if tonumber(epoch) >= tonumber(now) then return {'revoked', epoch} end
local changed = redis.call('HGET', P .. 'u:' .. uid .. ':roles', 'at')
if changed and tonumber(changed) >= tonumber(ARGV[11]) then return {'roles', epoch} end
redis.call('HSET', KEYS[2], 'uid', uid, 'created', now, 'abs', ARGV[5], 'auth', ARGV[6], 'revoked', '0',
           'current', ARGV[8])
redis.call('EXPIREAT', KEYS[2], math.ceil(abs))
redis.call('HSET', KEYS[1], 'fam', fam, 'uid', uid, 'exp', ARGV[7], 'state', 'live')
redis.call('EXPIREAT', KEYS[1], math.ceil(abs))
redis.call('ZADD', KEYS[3], ARGV[10], ARGV[9])
redis.call('EXPIREAT', KEYS[3], math.ceil(abs))
redis.call('ZADD', KEYS[4], abs, fam)
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', '(' .. now)
redis.call('EXPIREAT', KEYS[4], math.ceil(abs), 'NX')
redis.call('EXPIREAT', KEYS[4], math.ceil(abs), 'GT')
redis.call('ZADD', KEYS[5], 'LT', abs, uid)  -- LT still adds a new member
for i = 12, #ARGV do emit(KEYS[6], ARGV[i], uid, fam, nil) end
-- The second this Redis's token state began (RedisTokenStore.access_state); this token's iat
-- is never before it.
redis.call('SET', P .. 'since', math.floor(tonumber(now)), 'NX')
return {'ok', epoch}
"""

# KEYS: presented token record, stream, the caller's per-IP throttle counter.
# ARGV: P, now, grace, new hash, successor blob, refresh ttl, jti, jti exp, leeway, channel,
#       max chain, the refreshed envelope (see _REFRESH_EVENTS), then (optional) the
#       throttle counter's free, block_after, base, max, window.
# Returns {outcome, uid, fam, ...}:
#   rotated: auth_time, new token exp, epoch, roles...  (the caller's new token is the one it sent)
#   grace:   auth_time, epoch, current token exp, roles..., blob, blob, ... (the family's current
#            token, by the chain)
#   roles... is three values: the version of P u:<uid>:roles ('' if none), '1' and the roles if
#            they are known there, else '0' and ''
#   throttled: wait in ms (nothing was read or written)
#   unknown | expired | revoked | reused
REFRESH = _COMMON + _REFRESH_EVENTS + COUNTER_WAIT + """
local now, grace = tonumber(ARGV[2]), tonumber(ARGV[3])
local leeway, channel = tonumber(ARGV[9]), ARGV[10]
if ARGV[13] then
  local wait = counter_wait(KEYS[3], now, tonumber(ARGV[13]), tonumber(ARGV[14]), tonumber(ARGV[15]),
                            tonumber(ARGV[16]), tonumber(ARGV[17]))
  if wait > 0 then return {'throttled', tostring(math.ceil(wait * 1000))} end
end
local function held_roles(uid)
  local m = redis.call('HMGET', P .. 'u:' .. uid .. ':roles', 'v', 'r')
  if m[1] and m[2] then return m[1], '1', m[2] end
  return m[1] or '', '0', ''
end
local r = redis.call('HMGET', KEYS[1], 'fam', 'uid', 'exp', 'state', 'spent', 'next', 'blob')
if not r[1] then return {'unknown'} end
local fam, uid = r[1], r[2]
local fkey = P .. 'rf:' .. fam
local f = redis.call('HMGET', fkey, 'created', 'abs', 'revoked', 'current', 'auth')
if not f[1] or f[3] == '1' then return {'revoked', uid, fam} end
if now >= tonumber(f[2]) then return {'expired', uid, fam} end
local epoch = redis.call('GET', P .. 'u:' .. uid .. ':epoch') or '0'
if tonumber(f[1]) <= tonumber(epoch) then
  revoke_family(fam, uid, now, leeway, channel)
  append(KEYS[2], related_event('auth.token.revoked', uid, fam, 'user_epoch'))
  return {'revoked', uid, fam}
end
local function register_jti()
  redis.call('ZADD', fkey .. ':j', ARGV[8], ARGV[7])
  redis.call('ZREMRANGEBYSCORE', fkey .. ':j', '-inf', '(' .. (now - leeway))
end
if r[4] == 'live' then
  if now >= tonumber(r[3]) then return {'expired', uid, fam} end
  local abs = tonumber(f[2])
  local exp = math.min(now + tonumber(ARGV[6]), abs)
  redis.call('HSET', KEYS[1], 'state', 'spent', 'spent', ARGV[2], 'next', ARGV[4], 'blob', ARGV[5])
  local nkey = P .. 'rt:' .. ARGV[4]
  redis.call('HSET', nkey, 'fam', fam, 'uid', uid, 'exp', tostring(exp), 'state', 'live')
  redis.call('EXPIREAT', nkey, math.ceil(abs))
  redis.call('HSET', fkey, 'current', ARGV[4])
  register_jti()
  append(KEYS[2], refreshed_event(uid, fam))
  local version, known, roles = held_roles(uid)
  return {'rotated', uid, fam, f[5], tostring(exp), epoch, version, known, roles}
end
-- Spent. Within the grace window the caller is a sibling tab that raced the rotation:
-- hand it the family's current token, found by following the successor chain.
if r[5] and now - tonumber(r[5]) <= grace then
  local blobs = {r[7]}
  local h = r[6]
  for _ = 1, tonumber(ARGV[11]) do
    if h == f[4] then
      register_jti()
      append(KEYS[2], related_event(nil, uid, fam, 'grace'))
      local version, known, roles = held_roles(uid)
      local hkey = P .. 'rt:' .. h
      local hexp = redis.call('HGET', hkey, 'exp')
      -- Handed out: a failed rotation to it may no longer be undone (RELEASE_GRACE, if this
      -- request fails too, gives that back).
      if hexp then redis.call('HINCRBY', hkey, 'shared', 1) end
      local out = {'grace', uid, fam, f[5], epoch, hexp or '0', version, known, roles}
      for _, b in ipairs(blobs) do table.insert(out, b) end
      return out
    end
    local s = redis.call('HMGET', P .. 'rt:' .. h, 'state', 'next', 'blob')
    if s[1] ~= 'spent' then break end
    table.insert(blobs, s[3])
    h = s[2]
  end
end
-- A spent token came back: it was stolen, or the legitimate holder's copy was. End the family.
revoke_family(fam, uid, now, leeway, channel)
append(KEYS[2], related_event('auth.token.reuse_detected', uid, fam, nil))
append(KEYS[2], related_event('auth.token.revoked', uid, fam, 'reuse_detected'))
return {'reused', uid, fam}
"""

# Undoing a rotation whose request failed after REFRESH ran (Postgres down while it read the
# roles, a token it could not sign): the presented token is live again, its successor gone,
# the access jti registered for it dropped, so the client's retry is a plain refresh even after
# the grace window. Only while nothing else happened since: the presented token still names
# the successor, which is still the family's (not revoked) current token and unspent. A
# successor that a grace reply handed a sibling request is not taken back while that reply may
# have reached its client: the undo waits (fields undo undo_jti undo_event on the successor)
# until every such sibling failed too (RELEASE_GRACE), and never happens if one succeeded.
# Returns undone, pending (waiting for siblings) or moved (nothing undone).
_UNDO = """
local function undo_rotation(h, nh, jti, envelope, stream)
  local pkey, nkey = P .. 'rt:' .. h, P .. 'rt:' .. nh
  local r = redis.call('HMGET', pkey, 'fam', 'state', 'next')
  if not r[1] or r[2] ~= 'spent' or r[3] ~= nh then return 'moved' end
  local fkey = P .. 'rf:' .. r[1]
  local f = redis.call('HMGET', fkey, 'revoked', 'current')
  if f[1] ~= '0' or f[2] ~= nh then return 'moved' end
  local s = redis.call('HMGET', nkey, 'state', 'shared')
  if s[1] ~= 'live' then return 'moved' end
  if tonumber(s[2] or '0') > 0 then
    redis.call('HSET', nkey, 'undo', h, 'undo_jti', jti, 'undo_event', envelope)
    return 'pending'
  end
  redis.call('HSET', pkey, 'state', 'live')
  redis.call('HDEL', pkey, 'spent', 'next', 'blob')
  redis.call('HSET', fkey, 'current', h)
  redis.call('DEL', nkey)
  redis.call('ZREM', fkey .. ':j', jti)
  redis.call('XADD', stream, '*', 'event', envelope)
  return 'undone'
end
"""

# KEYS: presented token record, its successor's record, stream.
# ARGV: P, presented hash, successor hash, the rotation's jti, the event of the undo (complete).
UNDO_ROTATION = _COMMON + _UNDO + """
return undo_rotation(ARGV[2], ARGV[3], ARGV[4], ARGV[5], KEYS[3])
"""

# KEYS: the record of the token a grace reply handed out, stream. ARGV: P, its hash, the grace
# request's jti. A grace request failed after REFRESH ran: its jti is dropped and its hand-out
# no longer counts; if it was the last one and the rotation to that token failed too, that
# rotation is undone now. Returns undone, moved, released or unknown.
RELEASE_GRACE = _COMMON + _UNDO + """
local r = redis.call('HMGET', KEYS[1], 'fam', 'shared', 'undo', 'undo_jti', 'undo_event')
if not r[1] then return 'unknown' end
redis.call('ZREM', P .. 'rf:' .. r[1] .. ':j', ARGV[3])
local n = tonumber(r[2] or '0')
if n > 1 then
  redis.call('HINCRBY', KEYS[1], 'shared', -1)
  return 'released'
end
redis.call('HDEL', KEYS[1], 'shared')
if not r[3] then return 'released' end
redis.call('HDEL', KEYS[1], 'undo', 'undo_jti', 'undo_event')
return undo_rotation(r[3], ARGV[2], r[4], r[5], KEYS[2])
"""

# KEYS: the user's roles hash. ARGV: the version a refresh read before it asked Postgres ('' if
# none), the roles it got, ttl. Writes them only if the version is still that one: a role change
# that committed meanwhile has replaced it (see app.sessions), and its roles must not be undone.
REMEMBER_ROLES = """
local v = redis.call('HGET', KEYS[1], 'v')
if (v or '') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'v', v or '0', 'r', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""

# KEYS: token record, stream. ARGV: P, now, leeway, channel, revoked envelope.
# Revokes the family a refresh token belongs to. Returns {uid, fam} or {} if unknown.
REVOKE_FAMILY = _COMMON + """
local r = redis.call('HMGET', KEYS[1], 'fam', 'uid')
if not r[1] then return {} end
local n = revoke_family(r[1], r[2], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4])
if n > 0 then emit(KEYS[2], ARGV[5], r[2], r[1], nil) end
return {r[2], r[1]}
"""

# KEYS: stream. ARGV: P, now, leeway, channel, revoked envelope, family id, uid.
# Revokes a family named by id (an access token's ``sid``), only if it is that user's.
# Returns how many things were revoked (0: unknown, another user's, or revoked already).
REVOKE_FAMILY_ID = _COMMON + """
local fam, uid = ARGV[6], ARGV[7]
if redis.call('HGET', P .. 'rf:' .. fam, 'uid') ~= uid then return 0 end
local n = revoke_family(fam, uid, tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4])
if n > 0 then emit(KEYS[1], ARGV[5], uid, fam, nil) end
return n
"""

# KEYS: stream. ARGV: P, now, leeway, channel, jti, exp, uid, revoked envelope.
# Revokes one access token by jti (its entry expires with the token). Returns 1 if new.
REVOKE_JTI = _COMMON + """
local n = revoke_jti(ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[2]))
if n > 0 then emit(KEYS[1], ARGV[8], ARGV[7], nil, nil) end
return n
"""

# KEYS: user index, stream. ARGV: P, now, leeway, channel, uid, revoked envelope, cutoff ('' for
# none). Revokes every family of the user created at or before the cutoff (a forced logout's
# fan-out must spare a login made after it) and their live access tokens; each family's event
# gets its own id, derived from the envelope's. Returns the count.
REVOKE_USER = _COMMON + """
local uid, now, leeway = ARGV[5], tonumber(ARGV[2]), tonumber(ARGV[3])
local cutoff = tonumber(ARGV[7])
local n = 0
for _, fam in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local created = cutoff and tonumber(redis.call('HGET', P .. 'rf:' .. fam, 'created') or '0')
  if not cutoff or created <= cutoff then
    -- revoke_family also drops the family from the index (gone or revoked ones too)
    local k = revoke_family(fam, uid, now, leeway, ARGV[4])
    if k > 0 then
      n = n + k
      emit(KEYS[2], ARGV[6], uid, fam, nil, fam)
    end
  end
end
if redis.call('ZCARD', KEYS[1]) == 0 then redis.call('DEL', KEYS[1]) end
redis.call('PUBLISH', ARGV[4], 'u:' .. uid)
return n
"""

# KEYS: due zset. ARGV: P, now, limit. Drops expired families from users' indexes (the
# family records and revocation entries expire by TTL). Returns {users visited, purged}.
SWEEP = _COMMON + """
local now = tonumber(ARGV[2])
local users = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
local purged = 0
for _, uid in ipairs(users) do
  local index = P .. 'u:' .. uid .. ':t'
  purged = purged + redis.call('ZREMRANGEBYSCORE', index, '-inf', now)
  local first = redis.call('ZRANGE', index, 0, 0, 'WITHSCORES')
  if #first == 0 then
    redis.call('ZREM', KEYS[1], uid)
  else
    redis.call('ZADD', KEYS[1], first[2], uid)
  end
end
return {#users, purged}
"""
