"""The Lua functions every Redis store script starts with (text only; no I/O).

``ARGV[1..5]`` of every script (but the append, which stands alone: see
``APPEND_SCRIPT``): session id, now (µs), expires_at (µs or
``''``), the owner the caller believes the session has (``agent\\tuser-hash``
or ``''``) and a write nonce. Per-session scripts get ``KEYS[1..5]`` = the
session's row, entries, leaves, checkpoints and path (one hash tag, one slot),
then -- on a single server only, where every key is at hand -- the listing
indexes at ``KEYS[6..11]``: all, exp, owner map, agent, user, agent+user.
Index-only scripts get the indexes at ``KEYS[1..6]``.

Numbers that must stay exact (µs times) are passed and stored as the strings
Python wrote: Lua's ``tostring`` would print them as ``1.9e+15``. Replies
carry rows and pages as one string joined by NUL, which no stored text holds
(canonical JSON, ids and user ids refuse it): the client parses one bulk
string instead of hundreds.
"""

from __future__ import annotations

__all__ = ["INDEX_LIB", "SESSION_LIB"]

INDEX_LIB = r"""
local sid, now_s, exp, owner, nonce = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local now = tonumber(now_s)

local function zadd(key, flag, score, member)
  if flag == '' then return redis.call('ZADD', key, score, member) end
  return redis.call('ZADD', key, flag, score, member)
end

-- Indexes at KEYS[b+1..b+6]. `known`: the owner the row names, when read.
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

SESSION_LIB = (
    r"""
local S, E, L, K, P = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
"""
    + INDEX_LIB
    + r"""
-- An entry's value without its data: seven fields, or six where it has no
-- checksum (written by an earlier release: six tabs in all, not seven).
local NO_DATA = '^([^\t]*\t[^\t]*\t[^\t]*\t[^\t]*\t[^\t]*\t[^\t]*\t[^\t]*)\t'
local NO_DATA_OLD = '^([^\t]*\t[^\t]*\t[^\t]*\t[^\t]*\t[^\t]*\t[^\t]*)'
local KIND = '^[^\t]*\t([^\t]*)\t'
local SUM = '^[^\t]*\t[^\t]*\t[^\t]*\t[^\t]*\t[^\t]*\t[^\t]*\t([^\t]*)\t'

local function bare(v) return string.match(v, NO_DATA) or string.match(v, NO_DATA_OLD) end

local function joined(t) return table.concat(t, '\0') end
local function row(key) return joined(redis.call('HGETALL', key or S)) end

local function meta(v)  -- parent, kind, depth, message index
  return string.match(v, '^([^\t]*)\t([^\t]*)\t(%d+)\t(%d+)\t')
end

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

-- A live (or moving) row holds its id; an expired one is replaced. Returns
-- 'taken', 'replay' (this very call already ran) or the replaced owner.
local function claim(key)
  local f = redis.call('HMGET', key, 'agent', 'exp', 'mv', 'uh', 'wn')
  if not f[1] then return '' end
  if nonce ~= '' and f[5] == nonce then return 'replay' end
  if f[3] or f[2] == '' or tonumber(f[2]) > now then return 'taken' end
  return f[1] .. '\t' .. f[4]
end

local function ttl(e)
  if not e or e == '' then return nil end
  return math.max(1, math.ceil((tonumber(e) - now) / 1000))
end

local function expire(first)  -- the five keys from KEYS[first]
  local ms = ttl(exp)
  if ms then for i = first, first + 4 do redis.call('PEXPIRE', KEYS[i], ms) end end
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

-- `rowless`: the caller's copy of the row is current (it knew this revision)
-- and it can apply the write's changes itself, so the row is not sent back.
local function current(f, rowless)
  local touched = index_touch(5, f and (f[1] .. '\t' .. f[4]))
  return {'ok', touched, rowless and '' or row()}
end

-- Every write: revision, updated_at, expiry, nonce and `fields` in one HSET,
-- then the expiry of all five keys and the listing indexes.
local function commit(f, fields, rowless)
  local t = {'rev', tonumber(f[5]) + 1, 'upd', now_s, 'exp', exp, 'wn', nonce}
  for i = 1, #fields do t[#t + 1] = fields[i] end
  chunked('HSET', S, t, 1000)
  expire(1)
  return current(f, rowless)
end

-- Walk parent links from `cursor`: at most `limit` entries of `kind` ('' = any),
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
      if data then out[#out + 1] = v else out[#out + 1] = bare(v) end
    end
    cursor = parent
  end
  return out
end

-- P lists the ids of the path root..head, so a page is one LRANGE and one
-- HMGET. Rebuilt from the parent links when it does not end at the head with
-- the head's depth (a key evicted under memory pressure, say).
local function rebuild(head, e)
  redis.call('DEL', P)
  local back = walk(head, -1, '', false)
  local ids = {}
  for i = #back - 1, 1, -2 do ids[#ids + 1] = back[i] end
  if #ids > 0 then chunked('RPUSH', P, ids, 1000) end
  local ms = ttl(e)
  if ms and #ids > 0 then redis.call('PEXPIRE', P, ms) end
end

local function ensure_path(head, depth, e)
  if head == '' then return end
  if redis.call('LLEN', P) ~= tonumber(depth) or redis.call('LINDEX', P, -1) ~= head then
    rebuild(head, e)
  end
end

-- The path ending at `last` (of `depth`), like walk(); from P when `last` is on it.
local function page(last, depth, limit, kind, data)
  if last == '' or depth < 1 then return {} end
  if redis.call('LINDEX', P, depth - 1) ~= last then return walk(last, limit, kind, data) end
  local out, n, hi = {}, 0, depth - 1
  while hi >= 0 and (limit < 0 or n < limit) do
    local size = 1000
    if limit >= 0 then size = math.min(size, limit - n) end
    local lo = math.max(0, hi - size + 1)
    local ids = redis.call('LRANGE', P, lo, hi)
    local values = redis.call('HMGET', E, unpack(ids))
    for i = #ids, 1, -1 do
      local v = values[i]
      if not v then return out end
      if kind == '' or string.match(v, KIND) == kind then
        n = n + 1
        out[#out + 1] = ids[i]
        if data then out[#out + 1] = v else out[#out + 1] = bare(v) end
        if n == limit then return out end
      end
    end
    hi = lo - 1
  end
  return out
end
"""
)
