#include "scripts.hpp"

#include "sha1.hpp"

namespace failpipe::detail::redis {
namespace {

// Shared by every script. Keys (P is the hash-tagged prefix, e.g. "{failpipe}", so that all keys
// of one prefix live in one cluster slot and one script may touch any of them):
//   P:channels  SET     every channel that holds or has held a message
//   P:idx       HASH    message id -> where it is now: 's'<stream id>' '<channel> (ready or
//                       reserved) or 'd'<len>':'<member><channel> (delayed)
//   P:seq       STRING  counter that keeps delayed members unique when an id repeats
//   P:s:<ch>    STREAM  ready and reserved messages, consumer group "failpipe"; fields
//                       i = message id, b = bytes, n = deliveries before this entry (absent = 0),
//                       and any others a foreign producer wrote (kept wherever the entry goes);
//                       o = first stream id of an entry without i, p = packed fields of a wide one
//   P:d:<ch>    ZSET    delayed messages: member (the id, or id \31 seq when taken) -> due time in
//                       server milliseconds
//   P:b:<ch>    HASH    delayed messages: member -> the entry's fields (pack_fields); values of
//                       earlier versions, n ':' bytes, are still read
//   P:rc:<ch>   STRING  throttle of the reclaim scan (expires by itself)
// Acknowledged stream entries are not XDEL'ed one by one (that costs more than the rest of a
// settle); reserve trims everything below the oldest pending entry with XTRIM MINID ~.
constexpr std::string_view kPrelude = R"LUA(
-- Raises an ACL refusal of @cmd, naming the command (inside a script Redis only says "can't run
-- this command"), so the client can say what to grant.
local function check_refusal(cmd, r)
  if string.find(r.err, 'NOPERM', 1, true) or string.find(r.err, 'The user executing the script', 1, true) then
    error({err = 'NOPERM failpipe: ' .. string.upper(cmd) .. ' refused in a script: ' .. r.err}, 0)
  end
end
-- redis.pcall, except that an ACL refusal is raised: it must never pass for "no such group" or
-- "not pending".
local function try(cmd, ...)
  local r = redis.pcall(cmd, ...)
  if type(r) == 'table' and r.err then check_refusal(cmd, r) end
  return r
end
-- redis.call, with ACL refusals named.
local function call(cmd, ...)
  local r = redis.pcall(cmd, ...)
  if type(r) == 'table' and r.err then
    check_refusal(cmd, r)
    error(r, 0)
  end
  return r
end
local P = ARGV[1]
local VT = tonumber(ARGV[2])
local G = 'failpipe'
local IDX = P .. ':idx'
local CHANNELS = P .. ':channels'
local function skey(ch) return P .. ':s:' .. ch end
local function dkey(ch) return P .. ':d:' .. ch end
local function bkey(ch) return P .. ':b:' .. ch end
local function now_ms()
  local t = call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- A stream id never holds a space, so 's' locations need no length (no number formatting on the
-- hot path); a delayed member is any id, so 'd' locations carry its length.
local function loc(kind, ref, ch)
  if kind == 's' then return 's' .. ref .. ' ' .. ch end
  return 'd' .. #ref .. ':' .. ref .. ch
end
local function parse_loc(v)
  local kind = string.sub(v, 1, 1)
  if kind == 's' then
    local space = string.find(v, ' ', 2, true)
    return kind, string.sub(v, 2, space - 1), string.sub(v, space + 1)
  end
  local colon = string.find(v, ':', 2, true)
  local len = tonumber(string.sub(v, 2, colon - 1))
  return kind, string.sub(v, colon + 1, colon + len), string.sub(v, colon + len + 1)
end
-- Members of the delayed set written before values carried their fields ('<n>:<bytes>') were
-- '<id>' or '<id>\31<seq>'.
local function id_of_member(member)
  local sep = string.find(member, '\31', 1, true)
  if sep then return string.sub(member, 1, sep - 1) end
  return member
end
-- The deliveries carried in 'n': decimal digits only, capped (entry.cpp reads it the same way).
local function count_of(v)
  if type(v) ~= 'string' or not string.find(v, '^%d+$') then return 0 end
  local x = tonumber(v)
  if x > 4294967295 then return 4294967295 end
  return x
end
-- The id of an entry without 'i' (entry.cpp: derived_id).
local function derived(sid) return 'stream-' .. sid end
-- The entry's id (the first non-empty 'i', else derived from its 'o', the stream id it was first
-- written with; nil when it has neither: then it is derived from its own stream id), the first
-- 'b' (nil when missing) and the count. Any other field is a foreign producer's and is kept
-- wherever the entry goes.
local function fields_of(f)
  local id, origin, body, nv
  for k = 1, #f, 2 do
    local name = f[k]
    if name == 'i' then
      if id == nil then id = f[k + 1] end
    elseif name == 'b' then
      if body == nil then body = f[k + 1] end
    elseif name == 'n' then
      if nv == nil then nv = f[k + 1] end
    elseif name == 'o' then
      if origin == nil then origin = f[k + 1] end
    end
  end
  if id == '' then id = nil end
  if not id and origin then id = derived(origin) end
  return id, body, count_of(nv)
end
-- A delayed message's hash value: 'F' then each field name and value as '<length>:<bytes>', so
-- any bytes (ids with \31, foreign fields) survive the wait.
local function pack_fields(f)
  local parts = {'F'}
  for k = 1, #f do
    local v = tostring(f[k])
    parts[k + 1] = #v .. ':' .. v
  end
  return table.concat(parts)
end
-- The fields of a new entry for the same message: every field kept but 'n', which becomes @n (left
-- out when 0), and an 'o' in front when the entry has no id of its own, so that it keeps the id
-- it was known by. An entry too wide for one XADD from Lua (a few thousand fields) travels as
-- 'i' (its id) and 'p' (its fields, packed as in pack_fields; entry.cpp unpacks them).
local WIDE = 7000
local function carried_fields(f, sid, n)
  local id = fields_of(f)
  local out = {}
  if not id then
    id = derived(sid)
    out[1] = 'o'
    out[2] = sid
  end
  for k = 1, #f, 2 do
    if f[k] ~= 'n' then
      out[#out + 1] = f[k]
      out[#out + 1] = f[k + 1]
    end
  end
  if #out > WIDE then
    local kept = {}
    for k = 1, #out, 2 do
      if out[k] ~= 'o' then
        kept[#kept + 1] = out[k]
        kept[#kept + 1] = out[k + 1]
      end
    end
    out = {'i', id, 'p', pack_fields(kept)}
  end
  if n > 0 then
    out[#out + 1] = 'n'
    out[#out + 1] = n
  end
  return out, id
end
-- The fields of a delayed member's value. A value that is neither format (written by hand) becomes
-- a message of those bytes under the member's id: handed out as poison, never an error that would
-- stop the channel's promotions.
local function delayed_fields(member, v)
  if string.sub(v, 1, 1) == 'F' then
    local f = {}
    local pos, last = 2, #v
    while pos <= last do
      local colon = string.find(v, ':', pos, true)
      local len = colon and tonumber(string.sub(v, pos, colon - 1))
      if not len or colon + len > last then return {'i', id_of_member(member), 'b', v} end
      f[#f + 1] = string.sub(v, colon + 1, colon + len)
      pos = colon + len + 1
    end
    if #f % 2 == 1 then return {'i', id_of_member(member), 'b', v} end
    return f
  end
  local colon = string.find(v, ':', 1, true)
  if not colon then return {'i', id_of_member(member), 'b', v} end
  local f = {'i', id_of_member(member), 'b', string.sub(v, colon + 1)}
  local n = count_of(string.sub(v, 1, colon - 1))
  if n > 0 then
    f[5] = 'n'
    f[6] = tostring(n)  -- browse replies it: a string, like every field
  end
  return f
end
local function xadd(ch, id, body, n)
  if n > 0 then return call('XADD', skey(ch), '*', 'i', id, 'b', body, 'n', n) end
  return call('XADD', skey(ch), '*', 'i', id, 'b', body)
end
local function add_ready(ch, id, body, n)
  local sid = xadd(ch, id, body, n)
  call('HSET', IDX, id, loc('s', sid, ch))
end
-- @f carries its id (carried_fields and push make sure of it).
local function add_delayed_fields(ch, id, f, due)
  local d = dkey(ch)
  local member = id
  -- The id itself when free, else a fresh '<id>\31<seq>' (checked: an id may look like one).
  while call('ZADD', d, 'NX', due, member) == 0 do
    member = id .. '\31' .. call('INCR', P .. ':seq')
  end
  call('HSET', bkey(ch), member, pack_fields(f))
  call('HSET', IDX, id, loc('d', member, ch))
end
local function add_delayed(ch, id, body, n, due)
  local f = {'i', id, 'b', body}
  if n > 0 then
    f[5] = 'n'
    f[6] = n
  end
  add_delayed_fields(ch, id, f, due)
end
-- Points the index at @new for @id when it pointed at @old, or at nothing (an entry the adapter
-- did not write: from now on status and remove know it).
local function move_index(id, old, new)
  local cur = call('HGET', IDX, id)
  if not cur or cur == old then call('HSET', IDX, id, new) end
end
-- Moves due delayed messages of @ch into its stream (at most 1000 per call), @now in server ms.
local function promote_due(ch, now)
  local d = dkey(ch)
  local due = call('ZRANGE', d, '-inf', now, 'BYSCORE', 'LIMIT', 0, 1000)
  if #due == 0 then return end
  local b = bkey(ch)
  local vals = call('HMGET', b, unpack(due))
  for k = 1, #due do
    local member, v = due[k], vals[k]
    if v then
      local f = delayed_fields(member, v)
      local id = fields_of(f) or id_of_member(member)
      local sid = call('XADD', skey(ch), '*', unpack(f))
      if call('HGET', IDX, id) == loc('d', member, ch) then call('HSET', IDX, id, loc('s', sid, ch)) end
    end
  end
  call('ZREM', d, unpack(due))
  call('HDEL', b, unpack(due))
end
local registered = {}
local function register(ch)
  if registered[ch] then return end
  registered[ch] = true
  if call('SADD', CHANNELS, ch) == 1 then
    -- From id 0, so that entries added before the group existed are delivered too.
    try('XGROUP', 'CREATE', skey(ch), G, '0', 'MKSTREAM')
  end
end
local function is_pending(s, sid)
  local p = try('XPENDING', s, G, sid, sid, 1)
  return type(p) == 'table' and not p.err and #p > 0
end
local function forget(ch, sid, id)
  if call('HGET', IDX, id) == loc('s', sid, ch) then call('HDEL', IDX, id) end
end
-- Gives deliveries idle longer than the visibility timeout back to their channel as new entries,
-- counting the lost delivery. Idle time is the server's: skewed worker clocks do not matter.
local function requeue_idle(ch, limit)
  local s = skey(ch)
  local idle = try('XPENDING', s, G, 'IDLE', VT, '-', '+', limit)
  if type(idle) ~= 'table' or idle.err then return 0 end
  for _, p in ipairs(idle) do
    local sid = p[1]
    local e = call('XRANGE', s, sid, sid)
    if #e > 0 then
      -- Whatever its shape (a foreign producer's entry too), it goes back whole, counted.
      local _, _, n = fields_of(e[1][2])
      local f, id = carried_fields(e[1][2], sid, n + 1)
      local nsid = call('XADD', s, '*', unpack(f))
      move_index(id, loc('s', sid, ch), loc('s', nsid, ch))
    else
      redis.log(redis.LOG_WARNING, 'failpipe: reclaimed entry ' .. sid .. ' of ' .. ch .. ' was gone (trimmed or deleted outside the adapter)')
    end
    call('XACK', s, G, sid)
  end
  return #idle
end
-- The type each key of a channel must have ('none': not there yet, fine).
local function check_type(key, want)
  local t = call('TYPE', key)['ok']
  if t ~= 'none' and t ~= want then
    error('failpipe: key ' .. key .. ' holds a ' .. t .. ', not a ' .. want .. '; nothing was changed', 0)
  end
end
-- Everything that could make a push to @ch fail part-way, checked before the first write.
-- Checked once per script call: the script's own writes only ever make keys of the right type.
local checked = {}
local function check_channel_keys(ch)
  if checked[ch] then return end
  check_type(skey(ch), 'stream')
  check_type(dkey(ch), 'zset')
  check_type(bkey(ch), 'hash')
  checked[ch] = true
end
local common_checked = false
local function check_common_keys()
  if common_checked then return end
  check_type(IDX, 'hash')
  check_type(CHANNELS, 'set')
  check_type(P .. ':seq', 'string')
  common_checked = true
end
local function check_delay(delay)
  local d = tonumber(delay)
  if not d or d < 0 then error('failpipe: bad delay ' .. tostring(delay) .. '; nothing was changed', 0) end
end
-- Stream ids compared as the decimal numbers they are (no precision lost to Lua's doubles).
local function sid_less(a, b)
  local da, db = string.find(a, '-', 1, true), string.find(b, '-', 1, true)
  local am, as, bm, bs = string.sub(a, 1, da - 1), string.sub(a, da + 1), string.sub(b, 1, db - 1), string.sub(b, db + 1)
  if #am ~= #bm then return #am < #bm end
  if am ~= bm then return am < bm end
  if #as ~= #bs then return #as < #bs end
  return as < bs
end
local function group_info(s)
  local groups = try('XINFO', 'GROUPS', s)
  if type(groups) ~= 'table' or groups.err then return nil end
  for _, g in ipairs(groups) do
    local t = {}
    for k = 1, #g, 2 do t[g[k]] = g[k + 1] end
    if t['name'] == G then return t end
  end
  return nil
end
)LUA";

// Operations, one after the other in ARGV from index 3; each gets one status in the reply
// (1 done, 2 done by an earlier try of the same call, 0 stale, 'E...' an error of that operation only):
//   S resend channel stream-id id reserved-ms npush {channel id bytes delay-ms}*   settle
//   R resend channel stream-id id reserved-ms delay-ms                             release
//   P resend npush token {channel id bytes delay-ms}*                              push
// Each operation checks everything that could fail (key types, delays) before its first write and
// acknowledges last, so an operation that fails has changed nothing.
constexpr std::string_view kApply = R"LUA(
local now
local function clock()
  if not now then now = now_ms() end
  return now
end
local function push(ch, id, body, delay)
  register(ch)
  local d = tonumber(delay)
  if d > 0 then add_delayed(ch, id, body, 0, clock() + d) else add_ready(ch, id, body, 0) end
end
-- A repeated call finds its entry acknowledged. While the delivery is younger than the visibility
-- timeout nobody else can have taken it, so the first try of this very call did it.
local function repeated(resend, reserved)
  if resend == '1' and clock() - tonumber(reserved) < VT then return 2 end
  return 0
end
-- Checks every push of an operation (@n pushes from ARGV[first]) before anything is written.
local function check_pushes(first, n)
  check_common_keys()
  for k = first, first + 4 * (n - 1), 4 do
    check_delay(ARGV[k + 3])
    check_channel_keys(ARGV[k])
  end
end
local function settle(i)
  local resend, ch, sid, id, reserved, n = ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], tonumber(ARGV[i + 6])
  local s = skey(ch)
  if n == 0 then
    -- A plain acknowledgement cannot fail half-way: XACK's answer is the pending check.
    if call('XACK', s, G, sid) == 0 then return repeated(resend, reserved) end
    forget(ch, sid, id)
    return 1
  end
  if not is_pending(s, sid) then return repeated(resend, reserved) end
  -- Nothing is written before every push is known to go through: a settle that fails changes
  -- nothing, so its redelivery cannot duplicate pushes.
  check_pushes(i + 7, n)
  for k = i + 7, i + 6 + 4 * n, 4 do push(ARGV[k], ARGV[k + 1], ARGV[k + 2], ARGV[k + 3]) end
  forget(ch, sid, id)
  call('XACK', s, G, sid)
  return 1
end
local function release(i)
  local resend, ch, sid, id, reserved, delay = ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], ARGV[i + 6]
  local s = skey(ch)
  if not is_pending(s, sid) then return repeated(resend, reserved) end
  check_common_keys()
  check_channel_keys(ch)
  check_delay(delay)
  local e = call('XRANGE', s, sid, sid)
  if #e > 0 then
    -- A release is not a delivery: the entry keeps the count it had, and every field it has.
    local _, _, n = fields_of(e[1][2])
    local f, eid = carried_fields(e[1][2], sid, n)
    local d = tonumber(delay)
    if d > 0 then
      add_delayed_fields(ch, eid, f, clock() + d)
    else
      move_index(eid, loc('s', sid, ch), loc('s', call('XADD', s, '*', unpack(f)), ch))
    end
  else
    -- The entry was trimmed or deleted outside the adapter: nothing to give back.
    if call('HGET', IDX, id) == loc('s', sid, ch) then
      call('HDEL', IDX, id)
      redis.log(redis.LOG_WARNING, 'failpipe: released entry ' .. sid .. ' of ' .. ch .. ' was gone (trimmed outside the adapter); its index entry was removed')
    end
  end
  call('XACK', s, G, sid)
  return 1
end
-- A push operation carries a token of its own, the same on every try of one call: a try that
-- finds the token was preceded by one that stored the pushes.
local function push_op(i)
  local n, token = tonumber(ARGV[i + 2]), ARGV[i + 3]
  local tk = P .. ':op:' .. token
  if call('EXISTS', tk) == 1 then return 2 end
  check_pushes(i + 4, n)
  for k = i + 4, i + 3 + 4 * n, 4 do push(ARGV[k], ARGV[k + 1], ARGV[k + 2], ARGV[k + 3]) end
  call('SET', tk, '1', 'PX', 86400000)
  return 1
end
local results = {}
local i = 3
while i <= #ARGV do
  local op = ARGV[i]
  local f, width
  if op == 'S' then f = settle; width = 7 + 4 * tonumber(ARGV[i + 6])
  elseif op == 'R' then f = release; width = 7
  elseif op == 'P' then f = push_op; width = 4 + 4 * tonumber(ARGV[i + 2])
  else return redis.error_reply('failpipe: unknown operation ' .. tostring(op)) end
  local ok, res = pcall(f, i)
  if ok then
    results[#results + 1] = res
  elseif type(res) == 'table' then
    results[#results + 1] = 'E' .. tostring(res.err or res.message or '?')
  else
    results[#results + 1] = 'E' .. tostring(res)
  end
  i = i + width
end
return results
)LUA";

// Reserve: for each channel in order — promote due delayed messages, (throttled) give back idle
// deliveries, read new entries, trim acknowledged ones. Reply: now-ms, ms until the next delayed
// message is due (-1: none), then per entry: channel index (1-based), stream id, its fields.
constexpr std::string_view kReserve = R"LUA(
local max = tonumber(ARGV[3])
local every = tonumber(ARGV[4])
local now = now_ms()
local out = {now, -1}
local next_due = -1
local remaining = max
local function promote(ch)
  local d = dkey(ch)
  local head = call('ZRANGE', d, 0, 0, 'WITHSCORES')
  if #head == 0 then return -1 end
  if tonumber(head[2]) > now then return tonumber(head[2]) - now end
  promote_due(ch, now)
  head = call('ZRANGE', d, 0, 0, 'WITHSCORES')
  if #head == 0 then return -1 end
  local wait = tonumber(head[2]) - now
  if wait < 0 then wait = 0 end
  return wait
end
local function read(ch, index, count)
  local s = skey(ch)
  local r = try('XREADGROUP', 'GROUP', G, G, 'COUNT', count, 'STREAMS', s, '>')
  if type(r) == 'table' and r.err then
    -- The stream lost its group (deleted, then pushed to again), or another producer made it:
    -- deliver it from the start, and list the channel (reclaim() looks at listed channels).
    try('XGROUP', 'CREATE', s, G, '0', 'MKSTREAM')
    call('SADD', CHANNELS, ch)
    r = call('XREADGROUP', 'GROUP', G, G, 'COUNT', count, 'STREAMS', s, '>')
  end
  if not r then return 0 end
  local entries = r[1][2]
  for _, e in ipairs(entries) do
    -- The fields as they are: the client makes the delivery (entry.cpp), whatever their shape.
    out[#out + 1] = index
    out[#out + 1] = e[1]
    out[#out + 1] = e[2]
  end
  return #entries
end
local function trim(ch, drained)
  local s = skey(ch)
  local p = call('XPENDING', s, G)
  if p[1] > 0 then
    call('XTRIM', s, 'MINID', '~', p[2])
  elseif drained and call('XLEN', s) > 0 then
    -- Nothing pending and nothing left to read: every entry is acknowledged.
    call('XTRIM', s, 'MAXLEN', 0)
  end
end
for c = 5, #ARGV do
  local ch = ARGV[c]
  local s = skey(ch)
  if call('EXISTS', s) == 0 then
    -- An empty stream with its group, so that a blocking read can wait on the channel.
    call('XGROUP', 'CREATE', s, G, '0', 'MKSTREAM')
  end
  local wait = promote(ch)
  if wait >= 0 and (next_due < 0 or wait < next_due) then next_due = wait end
  local throttle = P .. ':rc:' .. ch
  if call('SET', throttle, '1', 'PX', every, 'NX') then
    -- A full batch means more may be idle: look again on the next call.
    if requeue_idle(ch, 100) == 100 then call('DEL', throttle) end
  end
  if remaining > 0 then
    local got = read(ch, c - 4, remaining)
    remaining = remaining - got
    trim(ch, got == 0)
  end
end
out[2] = next_due
return out
)LUA";

// Prepare a plain XREADGROUP of one channel (sent right after it, in the same round trip): make the
// group, promote due delayed messages, (throttled) give back idle deliveries, trim acknowledged
// entries. Reply: now-ms, ms until the next delayed message is due (-1: none).
constexpr std::string_view kPrepare = R"LUA(
local ch = ARGV[3]
local every = tonumber(ARGV[4])
local now = now_ms()
local s, d = skey(ch), dkey(ch)
local pending = try('XPENDING', s, G)
if type(pending) == 'table' and pending.err then
  -- No stream yet (make an empty one, so a blocking read can wait on it), or a stream that lost
  -- its group (deleted, then pushed to again, or made by another producer): deliver it from the
  -- start, and list the channel when it holds messages (reclaim() looks at listed channels).
  if call('EXISTS', s) == 1 then call('SADD', CHANNELS, ch) end
  call('XGROUP', 'CREATE', s, G, '0', 'MKSTREAM')
  pending = {0}
end
local next_due = -1
local head = call('ZRANGE', d, 0, 0, 'WITHSCORES')
if #head > 0 and tonumber(head[2]) <= now then
  promote_due(ch, now)
  head = call('ZRANGE', d, 0, 0, 'WITHSCORES')
end
if #head > 0 then
  next_due = tonumber(head[2]) - now
  if next_due < 0 then next_due = 0 end
end
local throttle = P .. ':rc:' .. ch
if call('SET', throttle, '1', 'PX', every, 'NX') then
  if requeue_idle(ch, 100) == 100 then call('DEL', throttle) end
end
if pending[1] > 0 then
  call('XTRIM', s, 'MINID', '~', pending[2])
elseif call('XLEN', s) > 0 then
  -- Nothing pending: entries up to the last delivered one are all acknowledged.
  local g = group_info(s)
  if g then call('XTRIM', s, 'MINID', '~', g['last-delivered-id']) end
end
return {now, next_due}
)LUA";

constexpr std::string_view kStatus = R"LUA(
local id = ARGV[3]
local v = call('HGET', IDX, id)
if not v then
  -- A foreign producer's entry without 'i' is known by its stream id until the adapter moves it.
  local sid = string.match(id, '^stream%-(%d+%-%d+)$')
  if sid then
    for _, ch in ipairs(call('SMEMBERS', CHANNELS)) do
      local s = skey(ch)
      local e = try('XRANGE', s, sid, sid)
      if type(e) == 'table' and not e.err and #e > 0 and not fields_of(e[1][2]) then
        if is_pending(s, sid) then return {'reserved', ch} end
        local g = group_info(s)
        if not g or sid_less(g['last-delivered-id'], e[1][1]) then return {'ready', ch} end
      end
    end
  end
  return {'not-found', ''}
end
local kind, ref, ch = parse_loc(v)
if kind == 'd' then
  -- Due but not promoted yet (that happens on the next reserve): it is ready in all but name.
  local due = call('ZSCORE', dkey(ch), ref)
  if due and tonumber(due) <= now_ms() then return {'ready', ch} end
  return {'delayed', ch}
end
if is_pending(skey(ch), ref) then return {'reserved', ch} end
-- An entry trimmed or deleted outside the adapter is not waiting anywhere.
if #call('XRANGE', skey(ch), ref, ref) == 0 then return {'not-found', ''} end
return {'ready', ch}
)LUA";

// Ready = entries after the group's last delivered id: the group's lag when Redis knows it (it
// does not after XDEL of a waiting entry), else counted.
constexpr std::string_view kDepth = R"LUA(
local ch = ARGV[3]
local s = skey(ch)
-- Delayed messages that are due count as ready (the next reserve promotes them).
local due = call('ZCOUNT', dkey(ch), '-inf', now_ms())
local delayed = call('ZCARD', dkey(ch)) - due
if call('EXISTS', s) == 0 then return {due, delayed, 0} end
local g = group_info(s)
if not g then return {call('XLEN', s) + due, delayed, 0} end
local function last_generated_id(key)
  local info = call('XINFO', 'STREAM', key)
  for k = 1, #info, 2 do
    if info[k] == 'last-generated-id' then return info[k + 1] end
  end
  return nil
end
local last = g['last-delivered-id']
local ready
if last == '0-0' then
  ready = call('XLEN', s)
elseif last == last_generated_id(s) then
  -- Everything ever added was delivered. Checked before trusting 'lag': after an AOF rewrite and a
  -- restart Redis replays deliveries as XCLAIM ... LASTID, which moves the last delivered id but
  -- not 'entries-read', so the lag it reports stays high forever.
  ready = 0
elseif g['lag'] then
  ready = math.min(g['lag'], call('XLEN', s))
else
  ready = 0
  local start = '(' .. last
  while true do
    local chunk = call('XRANGE', s, start, '+', 'COUNT', 1000)
    ready = ready + #chunk
    if #chunk < 1000 then break end
    start = '(' .. chunk[#chunk][1]
  end
end
return {ready + due, delayed, g['pending']}
)LUA";

constexpr std::string_view kBrowse = R"LUA(
local ch, skip, limit = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local s = skey(ch)
local out = {}
local taken = 0
if limit == 0 then return out end
if call('EXISTS', s) == 1 then
  local g = group_info(s)
  local start = '-'
  if g and g['last-delivered-id'] ~= '0-0' then start = '(' .. g['last-delivered-id'] end
  while taken < limit do
    local chunk = call('XRANGE', s, start, '+', 'COUNT', 500)
    for _, e in ipairs(chunk) do
      if skip > 0 then
        skip = skip - 1
      elseif taken < limit then
        out[#out + 1] = e[1]
        out[#out + 1] = e[2]
        taken = taken + 1
      end
    end
    if #chunk < 500 then break end
    start = '(' .. chunk[#chunk][1]
  end
end
if taken < limit then
  local members = call('ZRANGE', dkey(ch), skip, skip + (limit - taken) - 1)
  if #members > 0 then
    -- HMGET in chunks: unpack() of a long list overflows Lua's stack.
    local b = bkey(ch)
    for first = 1, #members, 1000 do
      local last = math.min(first + 999, #members)
      local vals = call('HMGET', b, unpack(members, first, last))
      for k = first, last do
        local v = vals[k - first + 1]
        if v then
          out[#out + 1] = ''
          out[#out + 1] = delayed_fields(members[k], v)
        end
      end
    end
  end
end
return out
)LUA";

// Two modes. 'i': each id where the index says it is, when that is in the channel; the reply is
// {removed, ids not found there}. 's': a bounded step of a scan of the channel's waiting entries
// and delayed set for the ids (an id pushed again to another channel since, an entry of a foreign
// producer); ARGV[5], ARGV[6] are the cursors ('start'/'0' first, 'done' when finished) and the
// reply is {removed, stream cursor, hash cursor}. Only waiting messages go; a reserved one belongs
// to its worker.
constexpr std::string_view kRemove = R"LUA(
local ch, mode = ARGV[3], ARGV[4]
-- 'I' and 'S' are 'i' and 's' of an eviction: what the step removes is also added to the channel's
-- eviction counter, in the same atomic step (no eviction goes uncounted).
local counter = nil
if mode == 'I' or mode == 'S' then
  counter = P .. ':evicted:' .. ch
  mode = string.lower(mode)
end
local function counted(reply)
  if counter and reply[1] > 0 then call('INCRBY', counter, reply[1]) end
  return reply
end
local s, d, b = skey(ch), dkey(ch), bkey(ch)
local removed = 0
if mode == 'i' then
  local left = {}
  for k = 7, #ARGV do
    local id = ARGV[k]
    local v = call('HGET', IDX, id)
    local found = false
    if v then
      local kind, ref, where = parse_loc(v)
      if where == ch then
        if kind == 'd' then
          if call('ZREM', d, ref) == 1 then
            call('HDEL', b, ref)
            call('HDEL', IDX, id)
            removed = removed + 1
            found = true
          end
        elseif is_pending(s, ref) then
          found = true
        elseif call('XDEL', s, ref) == 1 then
          call('HDEL', IDX, id)
          removed = removed + 1
          found = true
        end
      end
    end
    if not found then left[#left + 1] = id end
  end
  return counted({removed, left})
end
local wanted = {}
for k = 7, #ARGV do wanted[ARGV[k]] = true end
local budget = 5000
local scursor, hcursor = ARGV[5], ARGV[6]
if scursor ~= 'done' then
  if call('EXISTS', s) == 0 then
    scursor = 'done'
  else
    -- Waiting entries are the ones after the group's last delivered id (read again on every step:
    -- a reserve between two steps moves it).
    local g = group_info(s)
    local last = (g and g['last-delivered-id']) or '0-0'
    local start = '(' .. last
    if scursor ~= 'start' and sid_less(last, scursor) then start = '(' .. scursor end
    scursor = 'done'
    while budget > 0 do
      local want = math.min(budget, 1000)
      local chunk = call('XRANGE', s, start, '+', 'COUNT', want)
      for _, e in ipairs(chunk) do
        local sid = e[1]
        local id = fields_of(e[2]) or derived(sid)
        if wanted[id] and call('XDEL', s, sid) == 1 then
          removed = removed + 1
          if call('HGET', IDX, id) == loc('s', sid, ch) then call('HDEL', IDX, id) end
        end
      end
      budget = budget - #chunk
      if #chunk < want then break end
      start = '(' .. chunk[#chunk][1]
      if budget <= 0 then scursor = chunk[#chunk][1] end
    end
  end
end
while hcursor ~= 'done' and budget > 0 do
  local r = call('HSCAN', b, hcursor, 'COUNT', 500)
  hcursor = r[1]
  if hcursor == '0' then hcursor = 'done' end
  local kv = r[2]
  for k = 1, #kv, 2 do
    local member = kv[k]
    local id = fields_of(delayed_fields(member, kv[k + 1])) or id_of_member(member)
    if wanted[id] and call('ZREM', d, member) == 1 then
      call('HDEL', b, member)
      if call('HGET', IDX, id) == loc('d', member, ch) then call('HDEL', IDX, id) end
      removed = removed + 1
    end
  end
  budget = budget - #kv / 2 - 1
end
return counted({removed, scursor, hcursor})
)LUA";

// The eviction counter of a channel (AdapterInterface::evicted): an integer, 0 when never evicted.
constexpr std::string_view kEvicted = R"LUA(
return tonumber(call('GET', P .. ':evicted:' .. ARGV[3]) or '0')
)LUA";

// Moves, first half (read only): the waiting messages of a channel with the given ids, as the
// client must see them to rewrite them, and what the compare-and-swap of the second half checks.
// Two modes, like remove. 'i': each id where the index says it is, when that is in the channel;
// reply {items, ids not found there, ids reserved there}. 's': a bounded step of a scan of the
// channel's waiting entries and delayed set (ARGV[5], ARGV[6] the cursors, 'start'/'0' first,
// 'done' when finished); reply {items, {stream cursor, hash cursor}}. An item is five elements:
// id, kind ('s' stream entry | 'd' delayed member), stream id or member, the delayed value ('' for
// a stream entry: stream entries never change), the entry's fields.
constexpr std::string_view kMoveRead = R"LUA(
local ch, mode = ARGV[3], ARGV[4]
local s, d, b = skey(ch), dkey(ch), bkey(ch)
local items = {}
local function item(id, kind, ref, value, f)
  items[#items + 1] = id
  items[#items + 1] = kind
  items[#items + 1] = ref
  items[#items + 1] = value
  items[#items + 1] = f
end
local g = group_info(s)
local last = (g and g['last-delivered-id']) or '0-0'
if mode == 'i' then
  local left, held = {}, {}
  for k = 7, #ARGV do
    local id = ARGV[k]
    local v = call('HGET', IDX, id)
    local found = false
    if v then
      local kind, ref, where = parse_loc(v)
      if where == ch then
        if kind == 'd' then
          local value = call('HGET', b, ref)
          if value and call('ZSCORE', d, ref) then
            item(id, 'd', ref, value, delayed_fields(ref, value))
            found = true
          end
        elseif is_pending(s, ref) then
          held[#held + 1] = id
          found = true
        elseif sid_less(last, ref) then
          local e = call('XRANGE', s, ref, ref)
          if #e > 0 then
            item(id, 's', ref, '', e[1][2])
            found = true
          end
        end
      end
    end
    if not found then left[#left + 1] = id end
  end
  return {items, left, held}
end
local wanted = {}
for k = 7, #ARGV do wanted[ARGV[k]] = true end
local budget = 2000
local scursor, hcursor = ARGV[5], ARGV[6]
if scursor ~= 'done' then
  if call('EXISTS', s) == 0 then
    scursor = 'done'
  else
    local start = '(' .. last
    if scursor ~= 'start' and sid_less(last, scursor) then start = '(' .. scursor end
    scursor = 'done'
    while budget > 0 do
      local want = math.min(budget, 1000)
      local chunk = call('XRANGE', s, start, '+', 'COUNT', want)
      for _, e in ipairs(chunk) do
        local id = fields_of(e[2]) or derived(e[1])
        if wanted[id] then item(id, 's', e[1], '', e[2]) end
      end
      budget = budget - #chunk
      if #chunk < want then break end
      start = '(' .. chunk[#chunk][1]
      if budget <= 0 then scursor = chunk[#chunk][1] end
    end
  end
end
while hcursor ~= 'done' and budget > 0 do
  local r = call('HSCAN', b, hcursor, 'COUNT', 500)
  hcursor = r[1]
  if hcursor == '0' then hcursor = 'done' end
  local kv = r[2]
  for k = 1, #kv, 2 do
    local member, value = kv[k], kv[k + 1]
    local f = delayed_fields(member, value)
    local id = fields_of(f) or id_of_member(member)
    if wanted[id] and call('ZSCORE', d, member) then item(id, 'd', member, value, f) end
  end
  budget = budget - #kv / 2 - 1
end
return {items, {scursor, hcursor}}
)LUA";

// Moves, second half: ARGV from, to, delay-ms, token, then per message six elements: kind, stream
// id or member, the delayed value read ('' for a stream entry), id, 'k' (keep the fields) or 'r'
// (replace the bytes), the new bytes ('' with 'k'). Each message is moved only if it is still
// exactly what the first half read and still waiting (compare-and-swap): it leaves the source and
// joins the target in this one script. The reply is one letter per message: 'm' moved, 'g' gone
// (not in the channel any more), 'r' reserved, 'c' changed (read it again). The reply is stored
// under the token, so a repeat of the same call (its reply was lost) answers it again and moves
// nothing twice.
constexpr std::string_view kMove = R"LUA(
local from, to, delay, token = ARGV[3], ARGV[4], tonumber(ARGV[5]), ARGV[6]
check_common_keys()
check_channel_keys(from)
check_channel_keys(to)
check_delay(ARGV[5])
-- SET … NX GET rather than GET: the ACL list stays what it was. '' would be a try that failed
-- half-way (it cannot, every check is above): treated as not done.
local tk = P .. ':op:' .. token
local done = call('SET', tk, '', 'PX', 86400000, 'NX', 'GET')
if done and done ~= '' then return done end
local s, d, b = skey(from), dkey(from), bkey(from)
local g = group_info(s)
local last = (g and g['last-delivered-id']) or '0-0'
local due
if delay > 0 then due = now_ms() + delay end
-- The fields of the moved entry: as they were (its count reset), or with new bytes in 'b' and every
-- other field of the producer kept (those of a wide entry come out of its 'p').
local function moved_fields(f, sid, id, body)
  if not body then
    if not fields_of(f) and not sid then
      local out = {'i', id}
      for k = 1, #f do out[#out + 1] = f[k] end
      f = out
    end
    return carried_fields(f, sid, 0)
  end
  local out = {'i', id, 'b', body}
  local function keep(fields)
    for k = 1, #fields, 2 do
      local name = fields[k]
      if name ~= 'i' and name ~= 'b' and name ~= 'n' and name ~= 'o' and name ~= 'p' then
        out[#out + 1] = name
        out[#out + 1] = fields[k + 1]
      end
    end
  end
  keep(f)
  for k = 1, #f, 2 do
    if f[k] == 'p' then
      keep(delayed_fields(id, f[k + 1]))
      break
    end
  end
  return carried_fields(out, sid, 0)
end
local function place(f, id)
  register(to)
  if due then
    add_delayed_fields(to, id, f, due)
  else
    call('HSET', IDX, id, loc('s', call('XADD', skey(to), '*', unpack(f)), to))
  end
end
local out = {}
for k = 7, #ARGV, 6 do
  local kind, ref, expect, id, how, body = ARGV[k], ARGV[k + 1], ARGV[k + 2], ARGV[k + 3], ARGV[k + 4], ARGV[k + 5]
  if how ~= 'r' then body = nil end
  local st
  if kind == 's' then
    local e = call('XRANGE', s, ref, ref)
    if #e == 0 then
      st = 'g'
    elseif is_pending(s, ref) then
      st = 'r'
    elseif not sid_less(last, ref) then
      st = 'g'  -- delivered and acknowledged since
    else
      local f = moved_fields(e[1][2], ref, id, body)
      call('XDEL', s, ref)
      if call('HGET', IDX, id) == loc('s', ref, from) then call('HDEL', IDX, id) end
      place(f, id)
      st = 'm'
    end
  else
    local v = call('HGET', b, ref)
    if not v or not call('ZSCORE', d, ref) then
      -- Promoted into the stream since it was read: still in the channel, read it again.
      local cur = call('HGET', IDX, id)
      st = 'g'
      if cur and string.sub(cur, 1, 1) == 's' then
        local _, _, where = parse_loc(cur)
        if where == from then st = 'c' end
      end
    elseif v ~= expect then
      st = 'c'
    else
      local f = moved_fields(delayed_fields(ref, v), nil, id, body)
      call('ZREM', d, ref)
      call('HDEL', b, ref)
      if call('HGET', IDX, id) == loc('d', ref, from) then call('HDEL', IDX, id) end
      place(f, id)
      st = 'm'
    end
  end
  out[#out + 1] = st
end
local r = table.concat(out)
call('SET', tk, r, 'PX', 86400000)
return r
)LUA";

constexpr std::string_view kReclaim = R"LUA(
local total = 0
for _, ch in ipairs(call('SMEMBERS', CHANNELS)) do
  if call('EXISTS', skey(ch)) == 1 then
    local n
    repeat
      n = requeue_idle(ch, 1000)
      total = total + n
    until n < 1000 or total >= 100000
  end
end
return total
)LUA";

// Shebang lines. Under maxmemory with noeviction, Redis refuses scripts without allow-oom: readers
// run anyway (no-writes), and so do the scripts that let consumers drain (settle, release, reserve,
// reclaim, remove, move: a move adds no message, it is how an operator drains dead letters). Only
// pushes of new messages are refused (the plain apply-push script).
constexpr std::string_view kReadOnly = "#!lua flags=no-writes";
constexpr std::string_view kDrain = "#!lua flags=allow-oom";
constexpr std::string_view kPlain = "#!lua";

Script make(std::string_view name, std::string_view shebang, std::string_view body) {
    Script script;
    script.name = name;
    script.source.reserve(shebang.size() + kPrelude.size() + body.size());
    script.source.append(shebang);
    script.source.append(kPrelude);
    script.source.append(body);
    script.sha = sha1_hex(script.source);
    return script;
}

}  // namespace

const Script& apply_script() {
    static const Script script = make("apply", kDrain, kApply);
    return script;
}
const Script& push_script() {
    static const Script script = make("apply-push", kPlain, kApply);
    return script;
}
const Script& reserve_script() {
    static const Script script = make("reserve", kDrain, kReserve);
    return script;
}
const Script& prepare_script() {
    static const Script script = make("prepare", kDrain, kPrepare);
    return script;
}
const Script& status_script() {
    static const Script script = make("status", kReadOnly, kStatus);
    return script;
}
const Script& depth_script() {
    static const Script script = make("depth", kReadOnly, kDepth);
    return script;
}
const Script& browse_script() {
    static const Script script = make("browse", kReadOnly, kBrowse);
    return script;
}
const Script& remove_script() {
    static const Script script = make("remove", kDrain, kRemove);
    return script;
}
const Script& evicted_script() {
    static const Script script = make("evicted", kReadOnly, kEvicted);
    return script;
}
const Script& move_read_script() {
    static const Script script = make("move-read", kReadOnly, kMoveRead);
    return script;
}
const Script& move_script() {
    static const Script script = make("move", kDrain, kMove);
    return script;
}
const Script& reclaim_script() {
    static const Script script = make("reclaim", kDrain, kReclaim);
    return script;
}

}  // namespace failpipe::detail::redis
