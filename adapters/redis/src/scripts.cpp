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
//                       i = message id, b = bytes, n = deliveries before this entry (absent = 0)
//   P:d:<ch>    ZSET    delayed messages: member (the id) -> due time in server milliseconds
//   P:b:<ch>    HASH    delayed messages: member -> n ':' bytes
//   P:rc:<ch>   STRING  throttle of the reclaim scan (expires by itself)
// Acknowledged stream entries are not XDEL'ed one by one (that costs more than the rest of a
// settle); reserve trims everything below the oldest pending entry with XTRIM MINID ~.
constexpr std::string_view kPrelude = R"LUA(
local P = ARGV[1]
local VT = tonumber(ARGV[2])
local G = 'failpipe'
local IDX = P .. ':idx'
local CHANNELS = P .. ':channels'
local function skey(ch) return P .. ':s:' .. ch end
local function dkey(ch) return P .. ':d:' .. ch end
local function bkey(ch) return P .. ':b:' .. ch end
local function now_ms()
  local t = redis.call('TIME')
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
local function id_of_member(member)
  local sep = string.find(member, '\31', 1, true)
  if sep then return string.sub(member, 1, sep - 1) end
  return member
end
local function fields_of(f)
  local id, body, n = nil, nil, 0
  for k = 1, #f, 2 do
    local name = f[k]
    if name == 'i' then id = f[k + 1] elseif name == 'b' then body = f[k + 1] elseif name == 'n' then n = tonumber(f[k + 1]) end
  end
  return id, body, n
end
local function xadd(ch, id, body, n)
  if n > 0 then return redis.call('XADD', skey(ch), '*', 'i', id, 'b', body, 'n', n) end
  return redis.call('XADD', skey(ch), '*', 'i', id, 'b', body)
end
local function add_ready(ch, id, body, n)
  local sid = xadd(ch, id, body, n)
  redis.call('HSET', IDX, id, loc('s', sid, ch))
end
local function add_delayed(ch, id, body, n, due)
  local d = dkey(ch)
  local member = id
  if redis.call('ZADD', d, 'NX', due, member) == 0 then
    member = id .. '\31' .. redis.call('INCR', P .. ':seq')
    redis.call('ZADD', d, due, member)
  end
  redis.call('HSET', bkey(ch), member, n .. ':' .. body)
  redis.call('HSET', IDX, id, loc('d', member, ch))
end
local registered = {}
local function register(ch)
  if registered[ch] then return end
  registered[ch] = true
  if redis.call('SADD', CHANNELS, ch) == 1 then
    -- From id 0, so that entries added before the group existed are delivered too.
    redis.pcall('XGROUP', 'CREATE', skey(ch), G, '0', 'MKSTREAM')
  end
end
local function is_pending(s, sid)
  local p = redis.pcall('XPENDING', s, G, sid, sid, 1)
  return type(p) == 'table' and not p.err and #p > 0
end
local function forget(ch, sid, id)
  if redis.call('HGET', IDX, id) == loc('s', sid, ch) then redis.call('HDEL', IDX, id) end
end
-- Gives deliveries idle longer than the visibility timeout back to their channel as new entries,
-- counting the lost delivery. Idle time is the server's: skewed worker clocks do not matter.
local function requeue_idle(ch, limit)
  local s = skey(ch)
  local idle = redis.pcall('XPENDING', s, G, 'IDLE', VT, '-', '+', limit)
  if type(idle) ~= 'table' or idle.err then return 0 end
  for _, p in ipairs(idle) do
    local sid = p[1]
    local e = redis.call('XRANGE', s, sid, sid)
    if #e > 0 then
      local id, body, n = fields_of(e[1][2])
      if id and body then
        local nsid = xadd(ch, id, body, n + 1)
        if redis.call('HGET', IDX, id) == loc('s', sid, ch) then redis.call('HSET', IDX, id, loc('s', nsid, ch)) end
      end
    else
      redis.log(redis.LOG_WARNING, 'failpipe: reclaimed entry ' .. sid .. ' of ' .. ch .. ' was gone (trimmed or deleted outside the adapter)')
    end
    redis.call('XACK', s, G, sid)
  end
  return #idle
end
-- The type each key of a channel must have ('none': not there yet, fine).
local function check_type(key, want)
  local t = redis.call('TYPE', key)['ok']
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
local function group_info(s)
  local groups = redis.pcall('XINFO', 'GROUPS', s)
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
    if redis.call('XACK', s, G, sid) == 0 then return repeated(resend, reserved) end
    forget(ch, sid, id)
    return 1
  end
  if not is_pending(s, sid) then return repeated(resend, reserved) end
  -- Nothing is written before every push is known to go through: a settle that fails changes
  -- nothing, so its redelivery cannot duplicate pushes.
  check_pushes(i + 7, n)
  for k = i + 7, i + 6 + 4 * n, 4 do push(ARGV[k], ARGV[k + 1], ARGV[k + 2], ARGV[k + 3]) end
  forget(ch, sid, id)
  redis.call('XACK', s, G, sid)
  return 1
end
local function release(i)
  local resend, ch, sid, id, reserved, delay = ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], ARGV[i + 6]
  local s = skey(ch)
  if not is_pending(s, sid) then return repeated(resend, reserved) end
  check_common_keys()
  check_channel_keys(ch)
  check_delay(delay)
  local e = redis.call('XRANGE', s, sid, sid)
  if #e > 0 then
    local eid, body, n = fields_of(e[1][2])
    eid = eid or id
    -- A release is not a delivery: the entry keeps the count it had.
    local d = tonumber(delay)
    if d > 0 then add_delayed(ch, eid, body or '', n, clock() + d) else add_ready(ch, eid, body or '', n) end
  else
    -- The entry was trimmed or deleted outside the adapter: nothing to give back.
    if redis.call('HGET', IDX, id) == loc('s', sid, ch) then
      redis.call('HDEL', IDX, id)
      redis.log(redis.LOG_WARNING, 'failpipe: released entry ' .. sid .. ' of ' .. ch .. ' was gone (trimmed outside the adapter); its index entry was removed')
    end
  end
  redis.call('XACK', s, G, sid)
  return 1
end
-- A push operation carries a token of its own, the same on every try of one call: a try that
-- finds the token was preceded by one that stored the pushes.
local function push_op(i)
  local n, token = tonumber(ARGV[i + 2]), ARGV[i + 3]
  local tk = P .. ':op:' .. token
  if redis.call('EXISTS', tk) == 1 then return 2 end
  check_pushes(i + 4, n)
  for k = i + 4, i + 3 + 4 * n, 4 do push(ARGV[k], ARGV[k + 1], ARGV[k + 2], ARGV[k + 3]) end
  redis.call('SET', tk, '1', 'PX', 86400000)
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
// message is due (-1: none), then per entry: channel index (1-based), stream id, id, bytes, n.
constexpr std::string_view kReserve = R"LUA(
local max = tonumber(ARGV[3])
local every = tonumber(ARGV[4])
local PROMOTE_MAX = 1000
local now = now_ms()
local out = {now, -1}
local next_due = -1
local remaining = max
local function promote(ch)
  local d = dkey(ch)
  local head = redis.call('ZRANGE', d, 0, 0, 'WITHSCORES')
  if #head == 0 then return -1 end
  if tonumber(head[2]) > now then return tonumber(head[2]) - now end
  local due = redis.call('ZRANGE', d, '-inf', now, 'BYSCORE', 'LIMIT', 0, PROMOTE_MAX)
  local b = bkey(ch)
  local vals = redis.call('HMGET', b, unpack(due))
  for k = 1, #due do
    local member, v = due[k], vals[k]
    if v then
      local colon = string.find(v, ':', 1, true)
      local id = id_of_member(member)
      local sid = xadd(ch, id, string.sub(v, colon + 1), tonumber(string.sub(v, 1, colon - 1)))
      if redis.call('HGET', IDX, id) == loc('d', member, ch) then redis.call('HSET', IDX, id, loc('s', sid, ch)) end
    end
  end
  redis.call('ZREM', d, unpack(due))
  redis.call('HDEL', b, unpack(due))
  head = redis.call('ZRANGE', d, 0, 0, 'WITHSCORES')
  if #head == 0 then return -1 end
  local wait = tonumber(head[2]) - now
  if wait < 0 then wait = 0 end
  return wait
end
local function read(ch, index, count)
  local s = skey(ch)
  local r = redis.pcall('XREADGROUP', 'GROUP', G, G, 'COUNT', count, 'STREAMS', s, '>')
  if type(r) == 'table' and r.err then
    -- The stream lost its group (deleted, then pushed to again): deliver it from the start.
    redis.pcall('XGROUP', 'CREATE', s, G, '0', 'MKSTREAM')
    r = redis.call('XREADGROUP', 'GROUP', G, G, 'COUNT', count, 'STREAMS', s, '>')
  end
  if not r then return 0 end
  local entries = r[1][2]
  for _, e in ipairs(entries) do
    local id, body, n = fields_of(e[2])
    out[#out + 1] = index
    out[#out + 1] = e[1]
    out[#out + 1] = id or ''
    out[#out + 1] = body or ''
    out[#out + 1] = n
  end
  return #entries
end
local function trim(ch, drained)
  local s = skey(ch)
  local p = redis.call('XPENDING', s, G)
  if p[1] > 0 then
    redis.call('XTRIM', s, 'MINID', '~', p[2])
  elseif drained and redis.call('XLEN', s) > 0 then
    -- Nothing pending and nothing left to read: every entry is acknowledged.
    redis.call('XTRIM', s, 'MAXLEN', 0)
  end
end
for c = 5, #ARGV do
  local ch = ARGV[c]
  local s = skey(ch)
  if redis.call('EXISTS', s) == 0 then
    -- An empty stream with its group, so that a blocking read can wait on the channel.
    redis.call('XGROUP', 'CREATE', s, G, '0', 'MKSTREAM')
  end
  local wait = promote(ch)
  if wait >= 0 and (next_due < 0 or wait < next_due) then next_due = wait end
  local throttle = P .. ':rc:' .. ch
  if redis.call('SET', throttle, '1', 'PX', every, 'NX') then
    -- A full batch means more may be idle: look again on the next call.
    if requeue_idle(ch, 100) == 100 then redis.call('DEL', throttle) end
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
local PROMOTE_MAX = 1000
local now = now_ms()
local s, d = skey(ch), dkey(ch)
local pending = redis.pcall('XPENDING', s, G)
if type(pending) == 'table' and pending.err then
  -- No stream yet (make an empty one, so a blocking read can wait on it), or a stream that lost
  -- its group (deleted, then pushed to again): deliver it from the start.
  redis.call('XGROUP', 'CREATE', s, G, '0', 'MKSTREAM')
  pending = {0}
end
local next_due = -1
local head = redis.call('ZRANGE', d, 0, 0, 'WITHSCORES')
if #head > 0 and tonumber(head[2]) <= now then
  local due = redis.call('ZRANGE', d, '-inf', now, 'BYSCORE', 'LIMIT', 0, PROMOTE_MAX)
  local b = bkey(ch)
  local vals = redis.call('HMGET', b, unpack(due))
  for k = 1, #due do
    local member, v = due[k], vals[k]
    if v then
      local colon = string.find(v, ':', 1, true)
      local id = id_of_member(member)
      local sid = xadd(ch, id, string.sub(v, colon + 1), tonumber(string.sub(v, 1, colon - 1)))
      if redis.call('HGET', IDX, id) == loc('d', member, ch) then redis.call('HSET', IDX, id, loc('s', sid, ch)) end
    end
  end
  redis.call('ZREM', d, unpack(due))
  redis.call('HDEL', b, unpack(due))
  head = redis.call('ZRANGE', d, 0, 0, 'WITHSCORES')
end
if #head > 0 then
  next_due = tonumber(head[2]) - now
  if next_due < 0 then next_due = 0 end
end
local throttle = P .. ':rc:' .. ch
if redis.call('SET', throttle, '1', 'PX', every, 'NX') then
  if requeue_idle(ch, 100) == 100 then redis.call('DEL', throttle) end
end
if pending[1] > 0 then
  redis.call('XTRIM', s, 'MINID', '~', pending[2])
elseif redis.call('XLEN', s) > 0 then
  -- Nothing pending: entries up to the last delivered one are all acknowledged.
  local g = group_info(s)
  if g then redis.call('XTRIM', s, 'MINID', '~', g['last-delivered-id']) end
end
return {now, next_due}
)LUA";

constexpr std::string_view kStatus = R"LUA(
local v = redis.call('HGET', IDX, ARGV[3])
if not v then return {'not-found', ''} end
local kind, ref, ch = parse_loc(v)
if kind == 'd' then
  -- Due but not promoted yet (that happens on the next reserve): it is ready in all but name.
  local due = redis.call('ZSCORE', dkey(ch), ref)
  if due and tonumber(due) <= now_ms() then return {'ready', ch} end
  return {'delayed', ch}
end
if is_pending(skey(ch), ref) then return {'reserved', ch} end
-- An entry trimmed or deleted outside the adapter is not waiting anywhere.
if #redis.call('XRANGE', skey(ch), ref, ref) == 0 then return {'not-found', ''} end
return {'ready', ch}
)LUA";

// Ready = entries after the group's last delivered id: the group's lag when Redis knows it (it
// does not after XDEL of a waiting entry), else counted.
constexpr std::string_view kDepth = R"LUA(
local ch = ARGV[3]
local s = skey(ch)
-- Delayed messages that are due count as ready (the next reserve promotes them).
local due = redis.call('ZCOUNT', dkey(ch), '-inf', now_ms())
local delayed = redis.call('ZCARD', dkey(ch)) - due
if redis.call('EXISTS', s) == 0 then return {due, delayed, 0} end
local g = group_info(s)
if not g then return {redis.call('XLEN', s) + due, delayed, 0} end
local last = g['last-delivered-id']
local ready
if last == '0-0' then
  ready = redis.call('XLEN', s)
elseif g['lag'] then
  ready = g['lag']
else
  ready = 0
  local start = '(' .. last
  while true do
    local chunk = redis.call('XRANGE', s, start, '+', 'COUNT', 1000)
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
if redis.call('EXISTS', s) == 1 then
  local g = group_info(s)
  local start = '-'
  if g and g['last-delivered-id'] ~= '0-0' then start = '(' .. g['last-delivered-id'] end
  while taken < limit do
    local chunk = redis.call('XRANGE', s, start, '+', 'COUNT', 500)
    for _, e in ipairs(chunk) do
      if skip > 0 then
        skip = skip - 1
      elseif taken < limit then
        local id, body = fields_of(e[2])
        out[#out + 1] = id or ''
        out[#out + 1] = body or ''
        taken = taken + 1
      end
    end
    if #chunk < 500 then break end
    start = '(' .. chunk[#chunk][1]
  end
end
if taken < limit then
  local members = redis.call('ZRANGE', dkey(ch), skip, skip + (limit - taken) - 1)
  if #members > 0 then
    -- HMGET in chunks: unpack() of a long list overflows Lua's stack.
    local b = bkey(ch)
    for first = 1, #members, 1000 do
      local last = math.min(first + 999, #members)
      local vals = redis.call('HMGET', b, unpack(members, first, last))
      for k = first, last do
        local v = vals[k - first + 1]
        if v then
          out[#out + 1] = id_of_member(members[k])
          out[#out + 1] = string.sub(v, string.find(v, ':', 1, true) + 1)
        end
      end
    end
  end
end
return out
)LUA";

constexpr std::string_view kRemove = R"LUA(
local ch = ARGV[3]
local s, d, b = skey(ch), dkey(ch), bkey(ch)
local removed = 0
for k = 4, #ARGV do
  local id = ARGV[k]
  local v = redis.call('HGET', IDX, id)
  if v then
    local kind, ref, where = parse_loc(v)
    if where == ch then
      if kind == 'd' then
        if redis.call('ZREM', d, ref) == 1 then
          redis.call('HDEL', b, ref)
          redis.call('HDEL', IDX, id)
          removed = removed + 1
        end
      elseif not is_pending(s, ref) then
        -- Only waiting messages go; a reserved one belongs to its worker.
        if redis.call('XDEL', s, ref) == 1 then
          redis.call('HDEL', IDX, id)
          removed = removed + 1
        end
      end
    end
  end
end
return removed
)LUA";

constexpr std::string_view kReclaim = R"LUA(
local total = 0
for _, ch in ipairs(redis.call('SMEMBERS', CHANNELS)) do
  if redis.call('EXISTS', skey(ch)) == 1 then
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
// reclaim, remove). Only pushes of new messages are refused (the plain apply-push script).
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
const Script& reclaim_script() {
    static const Script script = make("reclaim", kDrain, kReclaim);
    return script;
}

}  // namespace failpipe::detail::redis
