"""The Lua scripts of the Redis store (text only; no I/O).

Every per-session script receives ``KEYS[1..4]`` = the session's hash, entry
hash, leaf set and checkpoint hash (one hash tag, so one slot), optionally
followed by the listing-index keys (standalone Redis only: there every key is
on the one server, so a write updates its indexes in the same atomic script).
``ARGV[1..5]`` are always: session id, now (µs), expires_at (µs or ``''``),
the owner the caller believes the session has (``agent\\tuser-hash`` or ``''``)
and a write nonce. Scripts return ``{status, ...}``; ``'ok'`` replies are
``{'ok', indexed, row, ...}`` where ``row`` is the session hash (HGETALL) as one
NUL-joined string; pages of entries travel the same way.

Numbers that must stay exact (microsecond times) are passed and stored as the
strings Python wrote: Lua's ``tostring`` would print them as ``1.9e+15``.
"""

from __future__ import annotations

__all__ = ["INDEX_SCRIPTS", "SESSION_SCRIPTS"]

_ARGS = """
local sid, now_s, exp, owner, nonce = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local now = tonumber(now_s)

local function zadd(key, flag, score, member)
  if flag == '' then return redis.call('ZADD', key, score, member) end
  return redis.call('ZADD', key, flag, score, member)
end

-- Listing indexes at KEYS[b+1..b+6]: all, exp, owner map, agent, user, agent+user.
-- `known`: the session's owner if the caller read it, else what the owner map says.
local function index_touch(b, known)
  if #KEYS < b + 3 then return 0 end
  redis.call('ZADD', KEYS[b + 1], 'XX', now_s, sid)
  if exp ~= '' then redis.call('ZADD', KEYS[b + 2], 'XX', exp, sid) end
  if #KEYS < b + 6 then return 0 end
  if (known or redis.call('HGET', KEYS[b + 3], sid)) ~= owner then return 0 end
  for i = b + 4, b + 6 do redis.call('ZADD', KEYS[i], 'XX', now_s, sid) end
  return 1
end

local function index_set(b, flag)
  for _, i in ipairs({b + 1, b + 4, b + 5, b + 6}) do zadd(KEYS[i], flag, now_s, sid) end
  if exp ~= '' then zadd(KEYS[b + 2], flag, exp, sid)
  elseif flag == '' then redis.call('ZREM', KEYS[b + 2], sid) end
  if flag == '' then redis.call('HSET', KEYS[b + 3], sid, owner)
  else redis.call('HSETNX', KEYS[b + 3], sid, owner) end
  return 1
end

local function index_drop(b)
  if #KEYS < b + 3 then return {'', 0} end
  local known = redis.call('HGET', KEYS[b + 3], sid) or ''
  redis.call('ZREM', KEYS[b + 1], sid)
  redis.call('ZREM', KEYS[b + 2], sid)
  redis.call('HDEL', KEYS[b + 3], sid)
  if known == '' then return {'', 1} end
  if #KEYS < b + 6 or known ~= owner then return {known, 0} end
  for i = b + 4, b + 6 do redis.call('ZREM', KEYS[i], sid) end
  return {known, 1}
end
"""

_SESSION = (
    """
local S, E, L, K = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
"""
    + _ARGS
    + """
-- Replies carry rows and pages as one string joined by NUL (no stored text
-- holds a NUL): one bulk string for the client to parse instead of hundreds.
local function joined(t) return table.concat(t, '\\0') end

local function alive(key)
  local f = redis.call('HMGET', key, 'agent', 'exp', 'mv')
  if not f[1] or f[3] then return false end
  return f[2] == '' or tonumber(f[2]) > now
end

-- The live row's agent, exp, mv, uh, rev and then the fields asked for, or nil.
local function live(...)
  local f = redis.call('HMGET', S, 'agent', 'exp', 'mv', 'uh', 'rev', ...)
  if not f[1] or f[3] or (f[2] ~= '' and tonumber(f[2]) <= now) then return nil end
  return f
end

-- A live (or moving) row holds the id; an expired one is replaced: returns
-- 'taken', or the replaced row's owner ('' when there was none).
local function claim(key)
  local f = redis.call('HMGET', key, 'agent', 'exp', 'mv', 'uh', 'wn')
  if not f[1] then return '' end
  if nonce ~= '' and f[5] == nonce then return 'replay' end
  if f[3] or f[2] == '' or tonumber(f[2]) > now then return 'taken' end
  return f[1] .. '\\t' .. f[4]
end

local function expire(first)
  if exp == '' then return end
  local ms = math.ceil((tonumber(exp) - now) / 1000)
  if ms < 1 then ms = 1 end
  for i = first, first + 3 do redis.call('PEXPIRE', KEYS[i], ms) end
end

local function chunked(cmd, key, flat, step)
  for i = 1, #flat, step do
    redis.call(cmd, key, unpack(flat, i, math.min(i + step - 1, #flat)))
  end
end

local function argv_from(first, count)
  local t = {}
  for i = first, first + count - 1 do t[#t + 1] = ARGV[i] end
  return t
end

local function row(key) return joined(redis.call('HGETALL', key or S)) end

local function current(f)
  return {'ok', index_touch(4, f and (f[1] .. '\\t' .. f[4])), row()}
end

-- Every write: revision, updated_at, expiry, nonce and `fields` in one HSET,
-- then the expiry of all four keys and the listing indexes.
local function commit(f, fields)
  local t = {'rev', tonumber(f[5]) + 1, 'upd', now_s, 'exp', exp, 'wn', nonce}
  for i = 1, #fields do t[#t + 1] = fields[i] end
  chunked('HSET', S, t, 1000)
  expire(1)
  return current(f)
end

local NO_DATA = '^([^\\t]*\\t[^\\t]*\\t[^\\t]*\\t[^\\t]*\\t[^\\t]*\\t[^\\t]*)'

local function meta(v)
  return string.match(v, '^([^\\t]*)\\t([^\\t]*)\\t(%d+)\\t(%d+)\\t')
end

-- Walk parent links from cursor: at most limit entries of kind ('' = any),
-- newest first, as {id, value, ...}; bounded by the hash size against cycles.
local function walk(cursor, limit, kind, data)
  local out, n, steps = {}, 0, redis.call('HLEN', E)
  while cursor and cursor ~= '' and (limit < 0 or n < limit) and steps > 0 do
    steps = steps - 1
    local v = redis.call('HGET', E, cursor)
    if not v then break end
    local parent, k = meta(v)
    if kind == '' or k == kind then
      n = n + 1
      out[#out + 1] = cursor
      if data then out[#out + 1] = v else out[#out + 1] = string.match(v, NO_DATA) end
    end
    cursor = parent
  end
  return out
end
"""
)

SESSION_SCRIPTS: dict[str, str] = {
    # ARGV[6..]: the row's field/value pairs.
    "create": """
local old = claim(S)
if old == 'replay' then return current() end
if old == 'taken' then return {'taken'} end
redis.call('DEL', S, E, L, K)
chunked('HSET', S, argv_from(6, #ARGV - 5), 1000)
expire(1)
local indexed = 0
if #KEYS >= 10 then indexed = index_set(4, '') end
return {'ok', indexed, row(), old}
""",
    # ARGV[6..9]: counts of row args, entry args, leaves, checkpoint args; then those.
    "import": """
local old = claim(S)
if old == 'replay' then return current() end
if old == 'taken' then return {'taken'} end
redis.call('DEL', S, E, L, K)
local at = 10
local function take(n)
  local t = argv_from(at, n)
  at = at + n
  return t
end
chunked('HSET', S, take(tonumber(ARGV[6])), 1000)
local entries = take(tonumber(ARGV[7]))
if #entries > 0 then chunked('HSET', E, entries, 1000) end
local leaves = take(tonumber(ARGV[8]))
if #leaves > 0 then chunked('SADD', L, leaves, 1000) end
local points = take(tonumber(ARGV[9]))
if #points > 0 then chunked('HSET', K, points, 1000) end
expire(1)
local indexed = 0
if #KEYS >= 10 then indexed = index_set(4, '') end
return {'ok', indexed, row(), old}
""",
    # ARGV[6] expected head ('*' = unchecked), ARGV[7] n, then per entry:
    # id, kind, created, digest, data. Replies add the base: parent, depth, count.
    "append": """
local f = live('head', 'hd', 'cnt', 'maxm')
if not f then return {'nf'} end
local n = tonumber(ARGV[7])
local done = redis.call('HGET', E, ARGV[8])
if done then
  local parent, kind, depth, index = meta(done)
  local r = current(f)
  local count = tonumber(index)
  if kind == 'message' then count = count - 1 end
  r[4], r[5], r[6] = parent, tonumber(depth) - 1, count
  return r
end
local head, depth, count = f[6], tonumber(f[7]), tonumber(f[8])
if ARGV[6] ~= '*' and ARGV[6] ~= head then return {'head'} end
local adds = 0
for i = 0, n - 1 do
  if ARGV[9 + 5 * i] == 'message' then adds = adds + 1 end
end
if f[9] ~= '' and count + adds > tonumber(f[9]) then return {'limit', f[9]} end
local parent, d, c, values = head, depth, count, {}
for i = 0, n - 1 do
  local j = 8 + 5 * i
  d = d + 1
  if ARGV[j + 1] == 'message' then c = c + 1 end
  values[#values + 1] = ARGV[j]
  values[#values + 1] = table.concat(
    {parent, ARGV[j + 1], d, c, ARGV[j + 2], ARGV[j + 3], ARGV[j + 4]}, '\\t')
  parent = ARGV[j]
end
chunked('HSET', E, values, 1000)
if head ~= '' then redis.call('SREM', L, head) end
redis.call('SADD', L, parent)
local r = commit(f, {'head', parent, 'hd', d, 'cnt', c})
r[4], r[5], r[6] = head, depth, count
return r
""",
    # ARGV[6] entry id ('' = none), ARGV[7] expected revision ('' = unchecked).
    "set_head": """
local f = live('wn')
if not f then return {'nf'} end
if nonce ~= '' and f[6] == nonce then return current(f) end
if ARGV[7] ~= '' and f[5] ~= ARGV[7] then return {'rev'} end
local depth, count = 0, 0
if ARGV[6] ~= '' then
  local v = redis.call('HGET', E, ARGV[6])
  if not v then return {'inv'} end
  local _p, _k, d, c = meta(v)
  depth, count = d, c
end
return commit(f, {'head', ARGV[6], 'hd', depth, 'cnt', count})
""",
    # ARGV[6] checkpoint id, ARGV[7] entry id ('' = none), ARGV[8] record.
    "save_checkpoint": """
local f = live('wn', 'cps')
if not f then return {'nf'} end
if nonce ~= '' and f[6] == nonce then return current(f) end
if ARGV[7] ~= '' and redis.call('HEXISTS', E, ARGV[7]) == 0 then return {'inv'} end
local seq = tonumber(f[7]) + 1
redis.call('HSET', K, ARGV[6], table.concat({seq, ARGV[7], ARGV[8]}, '\\t'))
return commit(f, {'lcp', now_s, 'cps', seq})
""",
    # ARGV[6..]: metadata field/value pairs.
    "update": """
local f = live('wn')
if not f then return {'nf'} end
if nonce ~= '' and f[6] == nonce then return current(f) end
return commit(f, argv_from(6, #ARGV - 5))
""",
    # ARGV[6] before ('' = head), ARGV[7] limit (-1 = all), ARGV[8] kind, ARGV[9] data.
    "read_path": """
if not alive(S) then return {'nf'} end
local cursor
if ARGV[6] ~= '' then
  local v = redis.call('HGET', E, ARGV[6])
  if not v then return {'inv'} end
  cursor = meta(v)
else
  cursor = redis.call('HGET', S, 'head')
end
local path = walk(cursor, tonumber(ARGV[7]), ARGV[8], ARGV[9] == '1')
return {'ok', 0, row(), joined(path)}
""",
    "get_entry": """
if not alive(S) then return {'nf'} end
local v = redis.call('HGET', E, ARGV[6])
if not v then return {'inv'} end
return {'ok', 0, '', joined({ARGV[6], v})}
""",
    # ARGV[6] checkpoint id, ARGV[7] '1' = with the path.
    "get_checkpoint": """
if not alive(S) then return {'nf'} end
local c = redis.call('HGET', K, ARGV[6])
if not c then return {'cpnf'} end
local path = {}
if ARGV[7] == '1' then path = walk(string.match(c, '^%d+\\t([^\\t]*)\\t'), -1, '', true) end
return {'ok', 0, '', c, joined(path)}
""",
    "list_checkpoints": """
if not alive(S) then return {'nf'} end
return {'ok', 0, '', row(K)}
""",
    "list_leaves": """
if not alive(S) then return {'nf'} end
local ids, out = redis.call('SMEMBERS', L), {}
for i = 1, #ids, 1000 do
  local part = {unpack(ids, i, math.min(i + 999, #ids))}
  local values = redis.call('HMGET', E, unpack(part))
  for j = 1, #part do
    if values[j] then
      out[#out + 1] = part[j]
      out[#out + 1] = values[j]
    end
  end
end
return {'ok', 0, row(), joined(out)}
""",
    "export": """
if not alive(S) then return {'nf'} end
return {'ok', 0, row(), row(E), row(K)}
""",
    "delete": """
local existed = redis.call('EXISTS', S)
redis.call('DEL', S, E, L, K)
local dropped = index_drop(4)
return {'ok', dropped[2], '', existed, dropped[1]}
""",
    "prune_one": """
local e = redis.call('HGET', S, 'exp')
if e and (e == '' or tonumber(e) > now) then return {'alive', 0, '', e} end
redis.call('DEL', S, E, L, K)
return {'ok', 0, ''}
""",
    # Cluster step 1 of rotate_id: freeze the old id (ARGV[6] = new id), dump it.
    "rotate_out": """
if redis.call('HGET', S, 'mv') ~= ARGV[6] then
  if not alive(S) then return {'nf'} end
  redis.call('HSET', S, 'mv', ARGV[6])
end
return {'ok', 0, row(), row(E), joined(redis.call('SMEMBERS', L)), row(K)}
""",
    "unfreeze": """
if redis.call('HGET', S, 'mv') == ARGV[6] then redis.call('HDEL', S, 'mv') end
return {'ok', 0, ''}
""",
    # Standalone rotate_id in one script. KEYS: old 1-4, new 5-8, all, exp,
    # owner 9-11, old owner's indexes 12-14, new owner's 15-17. ARGV[6] new id,
    # ARGV[7] '1' = set the user to ARGV[8] ('' = anonymous) with hash ARGV[9],
    # ARGV[10] the new owner.
    "rotate": """
local nS, new = KEYS[5], ARGV[6]
if not alive(S) then
  if nonce ~= '' and redis.call('HGET', nS, 'wn') == nonce then
    return {'ok', 1, row(nS), '', ''}
  end
  return {'nf'}
end
local old = claim(nS)
if old == 'taken' or old == 'replay' then return {'taken'} end
redis.call('DEL', KEYS[5], KEYS[6], KEYS[7], KEYS[8])
for i = 1, 4 do
  if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('RENAME', KEYS[i], KEYS[i + 4]) end
end
if ARGV[7] == '1' then
  if ARGV[8] == '' then redis.call('HDEL', nS, 'user')
  else redis.call('HSET', nS, 'user', ARGV[8]) end
  redis.call('HSET', nS, 'uh', ARGV[9])
end
redis.call('HINCRBY', nS, 'rev', 1)
redis.call('HSET', nS, 'upd', now_s, 'exp', exp, 'wn', nonce)
expire(5)
local known = redis.call('HGET', KEYS[11], sid) or ''
redis.call('ZREM', KEYS[9], sid)
redis.call('ZREM', KEYS[10], sid)
redis.call('HDEL', KEYS[11], sid)
local dropped = 0
if known == '' or known == owner then
  for i = 12, 14 do redis.call('ZREM', KEYS[i], sid) end
  dropped = 1
end
for _, i in ipairs({9, 15, 16, 17}) do redis.call('ZADD', KEYS[i], now_s, new) end
if exp ~= '' then redis.call('ZADD', KEYS[10], exp, new) end
redis.call('HSET', KEYS[11], new, ARGV[10])
return {'ok', dropped, row(nS), old, known}
""",
}

_INDEX = _ARGS

INDEX_SCRIPTS: dict[str, str] = {
    # Scripts on the index slot only; KEYS = all, exp, owner[, agent, user, au].
    "idx_touch": "return index_touch(0)",
    "idx_set": "return index_set(0, ARGV[6])",
    "idx_drop": "return index_drop(0)",
    # KEYS = exp, owner; ARGV[6] batch: expired ids and their owners.
    "prune_scan": """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_s, 'LIMIT', 0, ARGV[6])
local owners = {}
for i = 1, #ids, 1000 do
  local part = redis.call('HMGET', KEYS[2], unpack(ids, i, math.min(i + 999, #ids)))
  for j = 1, #part do owners[#owners + 1] = part[j] or '' end
end
return {ids, owners}
""",
    # KEYS = one index; ARGV[6..] id/score pairs: remove each if its score is unchanged.
    "idx_clean": """
local n = 0
for i = 6, #ARGV, 2 do
  local s = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if s and tonumber(s) == tonumber(ARGV[i + 1]) then
    n = n + redis.call('ZREM', KEYS[1], ARGV[i])
  end
end
return n
""",
}

SESSION_SCRIPTS = {name: _SESSION + body for name, body in SESSION_SCRIPTS.items()}
INDEX_SCRIPTS = {name: _INDEX + body for name, body in INDEX_SCRIPTS.items()}
