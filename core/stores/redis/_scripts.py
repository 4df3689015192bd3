"""The Lua scripts of the Redis store (text only; no I/O).

Each starts with the functions of ``agentsession.stores.redis._lua`` (the key and
argument layout is described there). Replies are ``{status, ...}``: ``'ok'``
replies are ``{'ok', indexed, row, ...}`` -- ``indexed`` tells whether the
owner's listing indexes were updated -- and refusals are ``{'nf'}``,
``{'taken'}``, ``{'head'}``, ``{'rev'}``, ``{'limit', max}``, ``{'inv'}`` or
``{'cpnf'}``. The append is the exception: ``APPEND_SCRIPT`` below.
"""

from __future__ import annotations

from agentsession.stores.redis._lua import INDEX_LIB, SESSION_LIB

__all__ = ["APPEND_SCRIPT", "INDEX_SCRIPTS", "SESSION_SCRIPTS"]

_INSERT_TAIL = r"""
expire(1)
local indexed = 0
if #KEYS >= 11 then indexed = index_set(5, '') end
return {'ok', indexed, row(), old}
"""

_SESSION: dict[str, str] = {
    # ARGV[6..]: the row's field/value pairs.
    "create": r"""
local old = claim(S)
if old == 'replay' then return current() end
if old == 'taken' then return {'taken'} end
redis.call('DEL', S, E, L, K, P)
chunked('HSET', S, argv_from(6, #ARGV - 5), 1000)
"""
    + _INSERT_TAIL,
    # ARGV[6..9]: how many row args, entry args, leaves, checkpoint args follow
    # ARGV[10] (the head); then those; the last ARGV: the revision of the
    # session to replace ('' = the id must be free).
    "import": r"""
local old
if ARGV[#ARGV] ~= '' then
  local f = redis.call('HMGET', S, 'rev', 'mv', 'wn')
  if nonce ~= '' and f[3] == nonce then return current() end
  if not f[1] then return {'nf'} end
  if f[2] or f[1] ~= ARGV[#ARGV] then return {'rev'} end
  old = ''  -- the same owner: its listing entry stays
else
  old = claim(S)
  if old == 'replay' then return current() end
  if old == 'taken' then return {'taken'} end
end
redis.call('DEL', S, E, L, K, P)
local at = 11
local function take(n)
  local t = argv_from(at, n)
  at = at + n
  return t
end
chunked('HSET', S, take(tonumber(ARGV[6])), 1000)
for i, key in ipairs({E, L, K}) do
  local part = take(tonumber(ARGV[6 + i]))
  if #part > 0 then chunked(key == L and 'SADD' or 'HSET', key, part, 1000) end
end
rebuild(ARGV[10], exp)
"""
    + _INSERT_TAIL,
    # ARGV[6] entry id ('' = none), ARGV[7] expected revision ('' = unchecked).
    "set_head": r"""
local f = live('wn', 'head', 'hd')
if not f then return {'nf'} end
if nonce ~= '' and f[6] == nonce then return current(f) end
if ARGV[7] ~= '' and f[5] ~= ARGV[7] then return {'rev'} end
local depth, count, sum = 0, 0, ''
if ARGV[6] ~= '' then
  local v = redis.call('HGET', E, ARGV[6])
  if not v then return {'inv'} end
  local _p, _k, d, c = meta(v)
  depth, count, sum = tonumber(d), c, string.match(v, SUM) or ''
  ensure_path(f[7], f[8], f[2])
  if redis.call('LINDEX', P, depth - 1) == ARGV[6] then
    redis.call('LTRIM', P, 0, depth - 1)
  else
    rebuild(ARGV[6], exp)
  end
else
  redis.call('DEL', P)
end
return commit(f, {'head', ARGV[6], 'hd', depth, 'cnt', count, 'hc', sum, 'hh', ARGV[6]})
""",
    # An append from a new root (a compaction's path): ARGV[6] the expected
    # head ('*' = unchecked), ARGV[7..]: per entry its id and value, placed by
    # the caller from the root (checksums included). The old head stays a leaf.
    "graft": r"""
local f = live('wn', 'head', 'maxm')
if not f then return {'nf'} end
if nonce ~= '' and f[6] == nonce then return current(f) end
if ARGV[6] ~= '*' and ARGV[6] ~= f[7] then return {'head'} end
local last = ARGV[#ARGV - 1]
local _p, _k, depth, count = meta(ARGV[#ARGV])
local sum = string.match(ARGV[#ARGV], SUM)
if f[8] ~= '' and tonumber(count) > tonumber(f[8]) then return {'limit', f[8]} end
chunked('HSET', E, argv_from(7, #ARGV - 6), 1000)
redis.call('SADD', L, last)
rebuild(last, exp)
return commit(f, {'head', last, 'hd', depth, 'cnt', count, 'hc', sum or '', 'hh', last})
""",
    # Path checksums for entries stored without one (by an earlier release,
    # or an append placed by the script): ARGV[6] the last of them, ARGV[7..]:
    # per entry its id and checksum, root first. Each value that still has no
    # checksum field gets it; the row gets the last one's if that is still its
    # head. Entries are never changed otherwise, so this is neither a write
    # (no revision, no expiry) nor ever wrong: doing it twice does nothing more.
    "backfill": r"""
if not alive(S) then return {'nf'} end
for i = 7, #ARGV, 2 do
  local v = redis.call('HGET', E, ARGV[i]) or ''
  local fixed, rest = string.match(v, '^([^\t]*\t[^\t]*\t[^\t]*\t[^\t]*\t[^\t]*\t[^\t]*\t)(.*)$')
  if fixed and not string.find(rest, '\t', 1, true) then
    redis.call('HSET', E, ARGV[i], fixed .. ARGV[i + 1] .. '\t' .. rest)
  end
end
if ARGV[#ARGV - 1] == ARGV[6] and redis.call('HGET', S, 'head') == ARGV[6] then
  redis.call('HSET', S, 'hc', ARGV[#ARGV], 'hh', ARGV[6])
end
return {'ok', 0, row()}
""",
    # ARGV[6] checkpoint id, ARGV[7] entry id ('' = none), ARGV[8] record.
    "save_checkpoint": r"""
local f = live('wn', 'cps')
if not f then return {'nf'} end
if nonce ~= '' and f[6] == nonce then return current(f) end
if ARGV[7] ~= '' and redis.call('HEXISTS', E, ARGV[7]) == 0 then return {'inv'} end
local seq = tonumber(f[7]) + 1
redis.call('HSET', K, ARGV[6], table.concat({seq, ARGV[7], ARGV[8]}, '\t'))
return commit(f, {'lcp', now_s, 'cps', seq})
""",
    # ARGV[6] expected revision ('' = unchecked), ARGV[7..]: metadata field/value pairs.
    "update": r"""
local f = live('wn')
if not f then return {'nf'} end
if nonce ~= '' and f[6] == nonce then return current(f) end
if ARGV[6] ~= '' and f[5] ~= ARGV[6] then return {'rev'} end
return commit(f, argv_from(7, #ARGV - 6))
""",
    # ARGV[6] before ('' = from the head), ARGV[7] limit (-1 = all), ARGV[8]
    # kind ('' = any), ARGV[9] '1' = with data.
    "read_path": r"""
local f = live('head', 'hd')
if not f then return {'nf'} end
ensure_path(f[6], f[7], f[2])
local last, depth = f[6], tonumber(f[7])
if ARGV[6] ~= '' then
  local v = redis.call('HGET', E, ARGV[6])
  if not v then return {'inv'} end
  local parent, _k, d = meta(v)
  last, depth = parent, tonumber(d) - 1
end
local path = page(last, depth, tonumber(ARGV[7]), ARGV[8], ARGV[9] == '1')
return {'ok', 0, row(), joined(path)}
""",
    "get_entry": r"""
if not alive(S) then return {'nf'} end
local v = redis.call('HGET', E, ARGV[6])
if not v then return {'inv'} end
return {'ok', 0, '', joined({ARGV[6], v})}
""",
    # ARGV[6] checkpoint id, ARGV[7] '1' = with the path root..its entry.
    "get_checkpoint": r"""
local f = live('head', 'hd')
if not f then return {'nf'} end
local c = redis.call('HGET', K, ARGV[6])
if not c then return {'cpnf'} end
local entry, path = string.match(c, '^%d+\t([^\t]*)\t'), {}
local v = entry ~= '' and ARGV[7] == '1' and redis.call('HGET', E, entry)
if v then
  ensure_path(f[6], f[7], f[2])
  local _p, _k, d = meta(v)
  path = page(entry, tonumber(d), -1, '', true)
end
return {'ok', 0, '', c, joined(path)}
""",
    "list_checkpoints": r"""
if not alive(S) then return {'nf'} end
return {'ok', 0, '', row(K)}
""",
    "list_leaves": r"""
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
    "export": r"""
if not alive(S) then return {'nf'} end
return {'ok', 0, row(), row(E), row(K)}
""",
    # ARGV[6] expected revision ('' = unchecked).
    "delete": r"""
local existed = redis.call('EXISTS', S)
if ARGV[6] ~= '' and existed == 1 and redis.call('HGET', S, 'rev') ~= ARGV[6] then
  return {'rev'}
end
redis.call('DEL', S, E, L, K, P)
local dropped = index_drop(5)
return {'ok', dropped[2], '', existed, dropped[1]}
""",
    "prune_one": r"""
local e = redis.call('HGET', S, 'exp')
if e and (e == '' or tonumber(e) > now) then return {'alive', 0, '', e} end
redis.call('DEL', S, E, L, K, P)
return {'ok', 0, ''}
""",
    # Cluster step 1 of rotate_id: freeze the old id (ARGV[6] = new id), dump it.
    "rotate_out": r"""
if redis.call('HGET', S, 'mv') ~= ARGV[6] then
  if not alive(S) then return {'nf'} end
  redis.call('HSET', S, 'mv', ARGV[6])
end
return {'ok', 0, row(), row(E), joined(redis.call('SMEMBERS', L)), row(K)}
""",
    "unfreeze": r"""
if redis.call('HGET', S, 'mv') == ARGV[6] then redis.call('HDEL', S, 'mv') end
return {'ok', 0, ''}
""",
    # Standalone rotate_id in one script. KEYS: old 1-5, new 6-10, all, exp,
    # owner 11-13, old owner's indexes 14-16, new owner's 17-19. ARGV[6] new id,
    # ARGV[7] '1' = set the user to ARGV[8] ('' = anonymous) with hash ARGV[9],
    # ARGV[10] the new owner.
    "rotate": r"""
local nS, new = KEYS[6], ARGV[6]
if not alive(S) then
  if nonce ~= '' and redis.call('HGET', nS, 'wn') == nonce then
    return {'ok', 1, row(nS), '', ''}
  end
  return {'nf'}
end
local old = claim(nS)
if old == 'taken' or old == 'replay' then return {'taken'} end
redis.call('DEL', KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10])
for i = 1, 5 do
  if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('RENAME', KEYS[i], KEYS[i + 5]) end
end
if ARGV[7] == '1' then
  if ARGV[8] == '' then redis.call('HDEL', nS, 'user')
  else redis.call('HSET', nS, 'user', ARGV[8]) end
  redis.call('HSET', nS, 'uh', ARGV[9])
end
redis.call('HINCRBY', nS, 'rev', 1)
redis.call('HSET', nS, 'upd', now_s, 'exp', exp, 'wn', nonce)
expire(6)
local known = redis.call('HGET', KEYS[13], sid) or ''
redis.call('ZREM', KEYS[11], sid)
redis.call('ZREM', KEYS[12], sid)
redis.call('HDEL', KEYS[13], sid)
local dropped = 0
if known == '' or known == owner then
  for i = 14, 16 do redis.call('ZREM', KEYS[i], sid) end
  dropped = 1
end
for _, i in ipairs({11, 17, 18, 19}) do redis.call('ZADD', KEYS[i], now_s, new) end
if exp ~= '' then redis.call('ZADD', KEYS[12], exp, new) end
redis.call('HSET', KEYS[13], new, ARGV[10])
return {'ok', dropped, row(nS), old, known}
""",
}

_INDEX: dict[str, str] = {
    # KEYS = all, exp, owner[, agent, user, agent+user].
    "idx_touch": "return index_touch(0)",
    "idx_set": "return index_set(0, ARGV[6])",
    "idx_drop": "return index_drop(0)",
    # KEYS = exp, owner; ARGV[6] batch: expired ids and their owners.
    "prune_scan": r"""
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_s, 'LIMIT', 0, ARGV[6])
local owners = {}
for i = 1, #ids, 1000 do
  local part = redis.call('HMGET', KEYS[2], unpack(ids, i, math.min(i + 999, #ids)))
  for j = 1, #part do owners[#owners + 1] = part[j] or '' end
end
return {ids, owners}
""",
    # Standalone listing in one round trip. KEYS = the listing index, all, exp,
    # owner. ARGV[6] the key prefix, ARGV[7] the index prefix, ARGV[8] offset,
    # ARGV[9] limit, ARGV[10] agent ('' = any), ARGV[11] user hash ('' = any).
    # The rows' keys are named here, not in KEYS (they cannot be known in
    # advance): a single server allows it, Cluster does not. An id whose row
    # is gone (Redis expired or evicted it; a delete would have unlisted it)
    # leaves every index; one whose row is expired or has another owner
    # leaves this index (prune_scan still finds an expired one). The window is
    # topped up from further down the index until `limit` rows are found.
    # Replies {ids, NUL-joined rows, ids removed}.
    "list": r"""
local key, prefix, idx = KEYS[1], ARGV[6], ARGV[7]
local rank, limit, agent, uh = tonumber(ARGV[8]), tonumber(ARGV[9]), ARGV[10], ARGV[11]
local ids, rows, gone, stale = {}, {}, {}, {}
while #ids < limit do
  local need = limit - #ids
  local window = redis.call('ZREVRANGE', key, rank, rank + need - 1)
  rank = rank + #window
  for _, id in ipairs(window) do
    local f = redis.call('HGETALL', prefix .. '{' .. id .. '}:s')
    local r = {}
    for i = 1, #f, 2 do r[f[i]] = f[i + 1] end
    if #f == 0 then gone[#gone + 1] = id
    elseif not r.mv then
      if (r.exp and r.exp ~= '' and tonumber(r.exp) <= now)
          or (agent ~= '' and r.agent ~= agent) or (uh ~= '' and r.uh ~= uh) then
        stale[#stale + 1] = id
      else
        ids[#ids + 1] = id
        rows[#rows + 1] = table.concat(f, '\0')
      end
    end
  end
  if #window < need then break end
end
for _, id in ipairs(gone) do
  local known = redis.call('HGET', KEYS[4], id)
  redis.call('HDEL', KEYS[4], id)
  local from = {key, KEYS[2], KEYS[3]}
  if known then
    local a, h = string.match(known, '^([^\t]*)\t(.*)$')
    from[4], from[5] = idx .. 'agent:' .. a, idx .. 'user:' .. h
    from[6] = idx .. 'au:' .. a .. ':' .. h
  end
  for _, k in ipairs(from) do redis.call('ZREM', k, id) end
end
for _, id in ipairs(stale) do redis.call('ZREM', key, id) end
return {ids, rows, #gone + #stale}
""",
    # KEYS = one index; ARGV[6..] id/score pairs: remove each if its score is unchanged.
    "idx_clean": r"""
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

SESSION_SCRIPTS = {name: SESSION_LIB + body for name, body in _SESSION.items()}
INDEX_SCRIPTS = {name: INDEX_LIB + body for name, body in _INDEX.items()}

# The append runs once per message, so it stands alone (see docs/design.md,
# "Store protocol"): none of the shared functions above (defining them costs
# more than its own work), the fewest keys, arguments and commands, and a
# reply of one string. The caller sends each entry as it will be stored,
# placed under the head of its copy of the row, with its path checksum
# chained from the head's (Lua has no SHA-256: only the caller can chain).
# When that copy is current (the same revision of the same creation: every
# write bumps the revision), the caller has already checked the head and the
# limit against it, so the script writes what it was sent. Otherwise it reads
# the row and checks `expected_head`; if the head is still the one the
# entries were placed under (the same id, and checksum: "hc" of "hh"), it
# checks the limit and writes them as sent, else it writes nothing and
# replies with the row, for the caller to place them again on it. A caller
# refused that way a few times in a row (others keep winning) sends its
# copy's revision as '!': then the script places the entries under the head
# as it is, as an earlier release stored entries (without checksums), and
# replies with the base it placed them on, whose checksum the row knows: the
# caller chains theirs and stores them next ("backfill"); if it dies first,
# whoever needs them does.
#
# KEYS: the session's row, entries, leaves and path; then, when the session
# expires, its checkpoints; then, on a single server only, the listing
# indexes: all, exp (when it expires) and, when the caller knows the owner, the
# owner's agent, user and agent+user indexes.
# ARGV[1]: "id\tnow\texpires_at\texpected head\tagent\tuser hash" (expected head
# '*' = unchecked, '' = empty; owner '' = unknown), then the caller's copy:
# "\trevision\tcreated\thead\tits checksum" (revision '' when the copy may not
# be trusted, '!' to be placed whatever the head; head and checksum: what the
# entries were placed under, '' if unknown), then "\trevision\thead depth\t
# message count\tits checksum" after the append. ARGV[2..]: per entry, its id and
# "parent\tkind\tdepth\tmessage index\tcreated\tdigest\tchecksum\tdata".
# Replies "ok\tindexed" when the copy was current, "ok\tindexed\trow" (the
# NUL-joined row) when they were stored as sent on a row that had changed,
# "moved\trow" when nothing was written (the head moved),
# "placed\tindexed\tparent\tdepth\tcount\tchecksum\trow" when the script
# placed them, without checksums, on that base ("again\t..." alike, with
# checksums, when this very call had been applied before), or "nf", "head",
# "limit\tmax".
APPEND_SCRIPT = r"""
local S, E, L, P = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local sid, now_s, exp, expected, agent, uh, krev, kcrt, head, khc, rev, hd, cnt, hc =
  string.match(ARGV[1],
  '^([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t' ..
  '([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)$')
local f = redis.call('HMGET', S, 'rev', 'crt', 'mv', 'exp')
if not f[1] or f[3] or (f[4] ~= '' and tonumber(f[4]) <= tonumber(now_s)) then return 'nf' end
local fast = f[1] == krev and f[2] == kcrt
local same = f[4] == exp  -- the expiry is unchanged (a ttl without idle_timeout)
local n = (#ARGV - 1) / 2
local b = 4  -- the keys before the indexes
if exp ~= '' then b = 5 end
local SUM = '^[^\t]*\t[^\t]*\t[^\t]*\t[^\t]*\t[^\t]*\t[^\t]*\t([^\t]*)\t'

-- The listing indexes (a single server): 1 when the owner's were updated.
local function touch(owned)
  if #KEYS <= b then return 0 end
  redis.call('ZADD', KEYS[b + 1], 'XX', now_s, sid)
  local o = b + 1
  if exp ~= '' then
    o = b + 2
    if not same then redis.call('ZADD', KEYS[o], 'XX', exp, sid) end
  end
  if #KEYS < o + 3 or not owned then return 0 end
  for i = o + 1, o + 3 do redis.call('ZADD', KEYS[i], 'XX', now_s, sid) end
  return 1
end

local function placed(status, indexed, parent, depth, count, sum)
  local row = table.concat(redis.call('HGETALL', S), '\0')
  return table.concat({status, indexed, parent, depth, count, sum, row}, '\t')
end

-- This very call was applied before its reply was lost: the base its entries
-- were stored on (the first one's parent, its depth, count and checksum).
local function replayed()
  local v = redis.call('HGET', E, ARGV[2])
  local parent, kind, depth, index = string.match(v, '^([^\t]*)\t([^\t]*)\t(%d+)\t(%d+)\t')
  local count = tonumber(index)
  if kind == 'message' then count = count - 1 end
  local sum = ''
  if parent ~= '' then sum = string.match(redis.call('HGET', E, parent) or '', SUM) or '' end
  local o = redis.call('HMGET', S, 'agent', 'uh')
  local status = string.match(v, SUM) and 'again' or 'placed'
  return placed(status, touch(o[1] == agent and o[2] == uh), parent, depth - 1, count, sum)
end

local values, first, g, base = ARGV, 2, nil, nil
if not fast then  -- check against the row as it is
  g = redis.call('HMGET', S, 'agent', 'uh', 'head', 'hc', 'maxm', 'hd', 'cnt', 'hh')
  local refused
  if expected ~= '*' and expected ~= g[3] then refused = 'head'
  elseif g[3] ~= head or (head ~= '' and (khc == '' or g[4] ~= khc or g[8] ~= head)) then
    if krev ~= '!' then refused = 'moved' else
      -- Placed on the head as it is, as an earlier release stored entries.
      head = g[3]
      base = g[8] == head and g[4] or ''
      local parent, d, c = head, tonumber(g[6]), tonumber(g[7])
      values, first = {}, 1
      for i = 1, n do
        local kind, stamp, data = string.match(ARGV[2 * i + 1],
          '^[^\t]*\t([^\t]*)\t[^\t]*\t[^\t]*\t([^\t]*\t[^\t]*)\t[^\t]*\t(.*)$')
        d = d + 1
        if kind == 'message' then c = c + 1 end
        values[2 * i - 1] = ARGV[2 * i]
        values[2 * i] = table.concat({parent, kind, d, c, stamp, data}, '\t')
        parent = ARGV[2 * i]
      end
      hd, cnt, hc = d, c, ''
    end
  end
  if not refused and g[5] ~= '' and tonumber(cnt) > tonumber(g[5]) then
    refused = 'limit\t' .. g[5]
  end
  if refused then
    if redis.call('HEXISTS', E, ARGV[2]) == 1 then return replayed() end
    if refused == 'moved' then return 'moved\t' .. table.concat(redis.call('HGETALL', S), '\0') end
    return refused
  end
  rev = tonumber(f[1]) + 1
end
if redis.call('HSETNX', E, values[first], values[first + 1]) == 0 then return replayed() end
for i = first + 2, #values, 1000 do
  redis.call('HSET', E, unpack(values, i, math.min(i + 999, #values)))
end
local last = values[#values - 1]
if head ~= '' then redis.call('SREM', L, head) else redis.call('DEL', P) end
redis.call('SADD', L, last)
local pushed
if n == 1 then
  pushed = redis.call('RPUSH', P, last)
else
  local ids = {}
  for i = 1, n do ids[i] = values[first + 2 * i - 2] end
  for i = 1, n, 1000 do pushed = redis.call('RPUSH', P, unpack(ids, i, math.min(i + 999, n))) end
end
if same then
  redis.call('HSET', S, 'rev', rev, 'upd', now_s, 'head', last, 'hd', hd, 'cnt', cnt, 'hc', hc,
    'hh', last, 'wn', '')
else
  redis.call('HSET', S, 'rev', rev, 'upd', now_s, 'head', last, 'hd', hd, 'cnt', cnt, 'hc', hc,
    'hh', last, 'wn', '', 'exp', exp)
end
-- Every key expires with the session. An unchanged expiry is on every key
-- already, but for a path list this append made (pushed == n).
if exp ~= '' and (not same or head == '' or pushed == n) then
  local ms = math.max(1, math.ceil((tonumber(exp) - tonumber(now_s)) / 1000))
  if not same or head == '' then
    for i = 1, 5 do redis.call('PEXPIRE', KEYS[i], ms) end
  else
    redis.call('PEXPIRE', P, ms)
  end
end
if fast then return 'ok\t' .. touch(true) end
local indexed = touch(g[1] == agent and g[2] == uh)
if base then return placed('placed', indexed, head, g[6], g[7], base) end
return 'ok\t' .. indexed .. '\t' .. table.concat(redis.call('HGETALL', S), '\0')
"""
