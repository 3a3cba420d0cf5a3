-- The prelude: prepended (at build time, by cmake/embed_lua.cmake) to every script of this
-- directory, right after its `#!lua` line. Only helpers live here; a script's own work is in its file.
--
-- Keys (P is the hash-tagged prefix, e.g. "{failpipe}", so that all keys of one prefix live in one
-- cluster slot and one script may touch any of them):
--   P:channels  SET     every channel that holds or has held a message
--   P:idx       HASH    message id -> where it is now: 's'<stream id>' '<channel> (ready or
--                       reserved) or 'd'<len>':'<member><channel> (delayed)
--   P:seq       STRING  counter that keeps delayed members unique when an id repeats
--   P:s:<ch>    STREAM  ready and reserved messages, consumer group "failpipe"; fields
--                       i = message id, b = bytes, n = deliveries before this entry (absent = 0),
--                       and any others a foreign producer wrote (kept wherever the entry goes);
--                       o = first stream id of an entry without i, p = packed fields of a wide one
--   P:d:<ch>    ZSET    delayed messages: member (the id, or id \31 seq when taken) -> due time in
--                       server milliseconds
--   P:b:<ch>    HASH    delayed messages: member -> the entry's fields (pack_fields); values of
--                       earlier versions, n ':' bytes, are still read
--   P:rc:<ch>   STRING  throttle of the reclaim scan (expires by itself)
--   P:evicted:<ch> STRING  messages evicted from the channel (remove.lua, modes 'I' and 'S')
--   P:op:<token>   STRING  what a push or move call with this token did (kept a day): a repeat of
--                          the call does nothing twice
--   P:confirm   STRING  written (for 10 s) by a call that found work done by an earlier try, so
--                       that the WAIT after it covers that try (confirm_earlier)
--   P:outbox    STREAM  shard groups only: follow-ups a settle of this group pushed to a channel of
--                       another group, and messages a move took from a channel of this group to
--                       one of another group; consumer group "failpipe"; fields t = target channel,
--                       i = message id, b = bytes, d = delay ms as staged, k = push token. Not a
--                       channel (never in P:channels); the relay takes, publishes and deletes them.
-- Acknowledged stream entries are not XDEL'ed one by one (that costs more than the rest of a
-- settle); reserve trims everything below the oldest pending entry with XTRIM MINID ~.
--
-- Every call: KEYS[1] = P:channels (for cluster routing only), ARGV[1] = P, ARGV[2] = the
-- visibility timeout in ms; each script's own arguments follow, as its file's header says.
-- Raises an ACL refusal of @cmd, naming the command (inside a script Redis only says "can't run
-- this command"), so the client can say what to grant.
local function check_refusal(cmd, r)
  if string.find(r.err, 'NOPERM', 1, true) or string.find(r.err, 'The user executing the script', 1, true) then
    error({err = 'NOPERM failpipe: ' .. string.upper(cmd) .. ' refused in a script: ' .. r.err}, 0)
  end
end
-- Looked up once: every command of a script goes through it.
local redis_pcall = redis.pcall
-- redis.pcall, except that an ACL refusal is raised: it must never pass for "no such group" or
-- "not pending".
local function try(cmd, ...)
  local r = redis_pcall(cmd, ...)
  if type(r) == 'table' and r.err then check_refusal(cmd, r) end
  return r
end
-- redis.call, with ACL refusals named.
local function call(cmd, ...)
  local r = redis_pcall(cmd, ...)
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
-- A channel's stream key, made once per call: joining the parts again costs more than the lookup.
local skeys = {}
local function skey(ch)
  local k = skeys[ch]
  if not k then
    k = P .. ':s:' .. ch
    skeys[ch] = k
  end
  return k
end
local function dkey(ch) return P .. ':d:' .. ch end
local function bkey(ch) return P .. ':b:' .. ch end
local function now_ms()
  local t = call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- Stream ids compared as the decimal numbers they are (no precision lost to Lua's doubles).
local function sid_less(a, b)
  local da, db = string.find(a, '-', 1, true), string.find(b, '-', 1, true)
  -- Both halves of equal length: the strings compare as the numbers do, and nothing is copied.
  if da == db and #a == #b then return a < b end
  local am, as, bm, bs = string.sub(a, 1, da - 1), string.sub(a, da + 1), string.sub(b, 1, db - 1), string.sub(b, db + 1)
  if #am ~= #bm then return #am < #bm end
  if am ~= bm then return am < bm end
  if #as ~= #bs then return #as < #bs end
  return as < bs
end
--@section args
-- The decoders of each script's own arguments (from ARGV[3] on), read in order, never by offset:
-- the layouts its file's header documents, written by adapters/redis/src/script_args.cpp (one
-- function there per decoder here; tests/redis/test_redis_script_args.cpp checks they agree).
local argn = 3
local function arg()
  local v = ARGV[argn]
  argn = argn + 1
  return v
end
-- The next @n arguments, in order, with one call (unpack) rather than @n.
local function args(n)
  local from = argn
  argn = argn + n
  return unpack(ARGV, from, argn - 1)
end
local function more_args() return argn <= #ARGV end
-- The arguments left, as a list.
local function rest_args()
  local t = {}
  while argn <= #ARGV do t[#t + 1] = arg() end
  return t
end
local read = {}
--@section read_apply
-- What a count of none reads as: one shared list, never written to, so that the many operations
-- without pushes build no table for them.
local NONE = {}
-- A count as sent: '0' (the usual case) needs no number conversion, which costs more than a
-- table access.
local function count_of_arg(v)
  if v == '0' then return 0 end
  return tonumber(v)
end
-- {channel id bytes delay-ms} * @n (delay-ms kept as sent: check_delay judges it).
function read.pushes(n)
  if n == 0 then return NONE end
  local t = {}
  for k = 1, n do
    local channel, id, bytes, delay = args(4)
    t[k] = {channel = channel, id = id, bytes = bytes, delay = delay}
  end
  return t
end
-- {channel id bytes delay-ms token} * @n: follow-ups for the outbox (pushes to another shard group).
function read.outbox(n)
  if n == 0 then return NONE end
  local t = {}
  for k = 1, n do
    local channel, id, bytes, delay, token = args(5)
    t[k] = {channel = channel, id = id, bytes = bytes, delay = delay, token = token}
  end
  return t
end
-- The most acknowledgements an A operation carries (kMaxPlainAcks, script_args.hpp): its ids are
-- unpacked at once, onto a stack of some 8,000 slots.
local MAX_PLAIN_ACKS = 512
-- The most pushes one run of a push operation carries (kMaxPushRun, script_args.hpp): its ids and
-- bytes are unpacked at once, two values each.
local MAX_PUSH_RUN = 1000
-- @v as a whole number from 0 to @most, or nil.
local function count_upto(v, most)
  local n = count_of_arg(v)
  if not n or n < 0 or n > most or n % 1 ~= 0 then return nil end
  return n
end
-- The words of @s separated by single spaces, as a list, and how many.
local function words(s)
  local t, n = {}, 0
  for w in string.gmatch(s, '[^ ]+') do
    n = n + 1
    t[n] = w
  end
  return t, n
end
-- apply: S resend channel stream-id id reserved-ms npush {push}* nout {outbox push}*
--        R resend channel stream-id id reserved-ms delay-ms
--        P resend nrun token {channel delay-ms n {id bytes}*n}*
--        A channel n resend-flags stream-ids reserved-ms id*n
-- An A operation's packed lists are taken apart here, except its reserved times, which only a
-- stale acknowledgement needs (apply.lua reads them then). A wrong operation is nil and why (the
-- caller answers it with an error: nothing after it can be read).
function read.apply_op()
  local op = arg()
  if op == 'A' then
    local channel, n, flags, packed, reserved = args(5)
    n = tonumber(n)
    if not n or n < 0 or n > MAX_PLAIN_ACKS or n % 1 ~= 0 or argn + n - 1 > #ARGV then
      return nil, 'malformed plain acknowledgements (count ' .. tostring(n) .. ')'
    end
    local sids, found = words(packed)
    if found ~= n or #flags ~= n then
      return nil, 'malformed plain acknowledgements (' .. n .. ' ids, ' .. found .. ' stream ids, ' .. #flags .. ' flags)'
    end
    return {op = op, channel = channel, n = n, flags = flags, sids = sids, reserved = reserved, ids = {args(n)}}
  elseif op == 'S' then
    local resend, channel, sid, id, reserved, npush = args(6)
    local pushes = read.pushes(count_of_arg(npush))
    return {op = op, resend = resend, channel = channel, sid = sid, id = id, reserved = reserved,
            pushes = pushes, outbox = read.outbox(count_of_arg(arg()))}
  elseif op == 'R' then
    local resend, channel, sid, id, reserved, delay = args(6)
    return {op = op, resend = resend, channel = channel, sid = sid, id = id, reserved = reserved, delay = delay}
  elseif op == 'P' then
    local resend, nrun, token = args(3)
    -- Each count checked before anything is unpacked: a wrong one would read past the arguments,
    -- or back over them, or overflow Lua's stack.
    local runs, nruns = {}, count_upto(nrun, #ARGV)
    if not nruns then return nil, 'malformed push operation (runs ' .. tostring(nrun) .. ')' end
    for r = 1, nruns do
      local channel, delay, count = args(3)
      local n = count_upto(count, MAX_PUSH_RUN)
      if not n or argn + 2 * n - 1 > #ARGV then
        return nil, 'malformed push operation (run ' .. r .. ' of ' .. tostring(count) .. ' pushes)'
      end
      -- Its ids and bytes as one flat list: no table per push.
      runs[r] = {channel = channel, delay = delay, items = {args(2 * n)}}
    end
    return {op = op, resend = resend, token = token, runs = runs}
  end
  return nil, 'unknown operation ' .. tostring(op)
end
--@section read_reserve
-- reserve: max reclaim-throttle-ms channel...
function read.reserve() return {max = tonumber(arg()), every = tonumber(arg()), channels = rest_args()} end
--@section read_prepare
-- prepare: channel reclaim-throttle-ms
function read.prepare() return {channel = arg(), every = tonumber(arg())} end
--@section read_status
-- status: id
function read.status() return {id = arg()} end
--@section read_channel
-- depth, evicted: channel
function read.channel() return {channel = arg()} end
--@section read_browse
-- browse: channel offset limit
function read.browse() return {channel = arg(), offset = tonumber(arg()), limit = tonumber(arg())} end
--@section read_browse_after
function read.browse_after()
  return {channel = arg(), limit = tonumber(arg()), kind = arg(), ref = arg(), score = arg()}
end
--@section read_lookup
-- remove, move-read: channel mode stream-cursor hash-cursor id...
function read.lookup()
  return {channel = arg(), mode = arg(), scursor = arg(), hcursor = arg(), ids = rest_args()}
end
--@section read_outbox
-- outbox-take: max
function read.outbox_take() return {max = tonumber(arg())} end
-- outbox-ack: stream-id...
function read.outbox_ack() return {ids = rest_args()} end
--@section read_move
-- move: from to delay-ms token via {kind ref value id how bytes}*
function read.move()
  local o = {from = arg(), to = arg(), delay = arg(), token = arg(), via = arg(), items = {}}
  while more_args() do
    o.items[#o.items + 1] = {kind = arg(), ref = arg(), value = arg(), id = arg(), how = arg(), bytes = arg()}
  end
  return o
end
--@section entries
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
--@section writes
-- A call sent again after its reply was lost runs on a new connection and may find its work done
-- by the first try (@results holds a 2): then it writes nothing, and the WAIT of durability
-- "replicas" after it, which counts only its own connection's writes, could answer at once while
-- no replica has the first try. One small write that replicates puts this connection's offset past
-- that try's, so the WAIT covers it. Here, not as a client command: no extra round trip, nothing
-- the ACL does not already allow (SET under P), and written only when needed, so a call where
-- nothing was done before pays nothing.
local function confirm_earlier()
  call('SET', P .. ':confirm', '1', 'PX', 10000)
end
local function xadd(ch, id, body, n)
  if n > 0 then return call('XADD', skey(ch), '*', 'i', id, 'b', body, 'n', n) end
  return call('XADD', skey(ch), '*', 'i', id, 'b', body)
end
-- Index writes gathered while an operation adds many entries, then sent as few HSETs: inside a
-- script each command costs its call's overhead (on a cluster also its slot check), as much as a
-- small write's own work. Without @w (nil) a write goes at once.
local function index_put(w, id, where)
  if not w then
    call('HSET', IDX, id, where)
    return
  end
  local n = #w
  w[n + 1] = id
  w[n + 2] = where
end
-- HSET pairs are applied in order, so a later write of the same id wins, as one by one.
local function index_flush(w)
  for i = 1, #w, 2000 do call('HSET', IDX, unpack(w, i, math.min(i + 1999, #w))) end
end
local function add_ready(ch, id, body, n, w)
  local sid
  if n > 0 then sid = xadd(ch, id, body, n) else sid = call('XADD', skey(ch), '*', 'i', id, 'b', body) end
  index_put(w, id, loc('s', sid, ch))
end
-- @f carries its id (carried_fields and push make sure of it).
local function add_delayed_fields(ch, id, f, due, w)
  local d = dkey(ch)
  local member = id
  -- The id itself when free, else a fresh '<id>\31<seq>' (checked: an id may look like one).
  while call('ZADD', d, 'NX', due, member) == 0 do
    member = id .. '\31' .. call('INCR', P .. ':seq')
  end
  call('HSET', bkey(ch), member, pack_fields(f))
  index_put(w, id, loc('d', member, ch))
end
local function add_delayed(ch, id, body, n, due, w)
  local f = {'i', id, 'b', body}
  if n > 0 then
    f[5] = 'n'
    f[6] = n
  end
  add_delayed_fields(ch, id, f, due, w)
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
  local ids, moved = {}, {}
  for k = 1, #due do
    local member, v = due[k], vals[k]
    if v then
      local f = delayed_fields(member, v)
      local id = fields_of(f) or id_of_member(member)
      ids[#ids + 1] = id
      moved[#moved + 1] = {member, call('XADD', skey(ch), '*', unpack(f))}
    end
  end
  -- The index follows an id only from the delayed entry it points at, so each id moves at most
  -- once: one HMGET before and one HSET after do what a HGET and HSET each did.
  local cur = #ids > 0 and call('HMGET', IDX, unpack(ids)) or {}
  local w = {}
  for k = 1, #ids do
    if cur[k] == loc('d', moved[k][1], ch) then index_put(w, ids[k], loc('s', moved[k][2], ch)) end
  end
  index_flush(w)
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
--@section pending
local function is_pending(s, sid)
  local p = try('XPENDING', s, G, sid, sid, 1)
  return type(p) == 'table' and not p.err and #p > 0
end
-- Drops @id from the index when it still points at @where (a later push of the same id elsewhere
-- keeps its own entry).
local function unindex(id, where)
  if call('HGET', IDX, id) == where then call('HDEL', IDX, id) end
end
local function forget(ch, sid, id) unindex(id, loc('s', sid, ch)) end
-- forget() of many entries of @ch at once (@sids[k] holds @ids[k], @cur[k] the index's value for
-- it, read before the acknowledgement: apply.lua's index_of): one HDEL.
local function forget_all(ch, sids, ids, cur)
  local gone, n = {}, 0
  for k = 1, #ids do
    -- loc('s', ...), written out: this runs for every message a batch settles.
    if cur[k] == 's' .. sids[k] .. ' ' .. ch then
      n = n + 1
      gone[n] = ids[k]
    end
  end
  if n > 0 then call('HDEL', IDX, unpack(gone)) end
end
-- Which of @sids (stream ids of @s, distinct, the least @first and the greatest @last) are
-- pending, as a set: XPENDING over their span, a page or a few, instead of one XPENDING each.
-- Other deliveries inside the span are read and skipped; when they fill the pages, the ids past the
-- last page are asked one by one, so a span full of other deliveries costs no more than asking each.
local function pending_among(s, sids, first, last)
  local found, covered = {}, nil
  local count = #sids + 32
  local start = first
  for _ = 1, 4 do
    local page = try('XPENDING', s, G, start, last, count)
    if type(page) ~= 'table' then break end
    if page.err then
      -- As XACK would: a key that is not a stream is an error, a missing group no delivery.
      if string.find(page.err, 'WRONGTYPE', 1, true) then error(page, 0) end
      if string.find(page.err, 'NOGROUP', 1, true) then return found end
      break
    end
    for k = 1, #page do found[page[k][1]] = true end
    if #page < count then return found end
    covered = page[#page][1]
    start = '(' .. covered
  end
  for k = 1, #sids do
    local sid = sids[k]
    if not found[sid] and (covered == nil or sid_less(covered, sid)) and is_pending(s, sid) then found[sid] = true end
  end
  return found
end
--@section requeue
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
--@section checks
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
  if delay == '0' then return end  -- ready now, the usual case: no number conversion
  local d = tonumber(delay)
  if not d or d < 0 then error('failpipe: bad delay ' .. tostring(delay) .. '; nothing was changed', 0) end
end
--@section outbox
-- The group's outbox (see the key list above). Entries are added by settles (apply.lua) and by
-- moves to another group (move.lua), and removed by the relay once published (outbox_ack.lua), so
-- the stream holds exactly the entries not yet relayed, oldest first.
local OUTBOX = P .. ':outbox'
local function check_outbox(entries)
  check_type(OUTBOX, 'stream')
  for _, o in ipairs(entries) do check_delay(o.delay) end
end
local function outbox_add(o)
  call('XADD', OUTBOX, '*', 't', o.channel, 'i', o.id, 'b', o.bytes, 'd', o.delay, 'k', o.token)
end
--@section groups
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
-- The group's last delivered id ('0-0' when the stream or its group is missing): entries after it
-- are waiting, the others were handed out.
local function last_delivered(s)
  local g = group_info(s)
  return (g and g['last-delivered-id']) or '0-0'
end
--@section lookup
-- Where the index places @id when that is in channel @ch: kind ('s' | 'd') and stream id or
-- member; nil when the index places it elsewhere or nowhere.
local function indexed_in(ch, id)
  local v = call('HGET', IDX, id)
  if not v then return nil end
  local kind, ref, where = parse_loc(v)
  if where ~= ch then return nil end
  return kind, ref
end
-- One bounded step of a scan of @ch's waiting messages for the ids in @wanted (a set): first the
-- stream entries after the group's last delivered id (read again on every step: a reserve between
-- two steps moves it), then the delayed messages. @scursor is where the stream part stopped ('start'
-- first), @hcursor the HSCAN cursor of the delayed values ('0' first); each is 'done' when finished.
-- About @budget entries are looked at. Calls on_entry(id, stream id, fields) and
-- on_member(id, member, value, fields) for each wanted one, and returns the new cursors.
local function scan_waiting(ch, wanted, scursor, hcursor, budget, on_entry, on_member)
  local s, b = skey(ch), bkey(ch)
  if scursor ~= 'done' then
    if call('EXISTS', s) == 0 then
      scursor = 'done'
    else
      local last = last_delivered(s)
      local start = '(' .. last
      if scursor ~= 'start' and sid_less(last, scursor) then start = '(' .. scursor end
      scursor = 'done'
      while budget > 0 do
        local want = math.min(budget, 1000)
        local chunk = call('XRANGE', s, start, '+', 'COUNT', want)
        for _, e in ipairs(chunk) do
          local id = fields_of(e[2]) or derived(e[1])
          if wanted[id] then on_entry(id, e[1], e[2]) end
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
      if wanted[id] then on_member(id, member, value, f) end
    end
    budget = budget - #kv / 2 - 1
  end
  return scursor, hcursor
end
--@section read_migrate
-- migrate-source: mode channel, then by mode: I group limit | R group max cursor |
--                 D {kind ref expect}* | F (nothing)
function read.migrate_source()
  local o = {mode = arg(), channel = arg()}
  if o.mode == 'I' then
    o.group, o.limit = arg(), tonumber(arg())
  elseif o.mode == 'R' then
    o.group, o.max, o.cursor = arg(), tonumber(arg()), arg()
  elseif o.mode == 'D' then
    o.items = {}
    while more_args() do o.items[#o.items + 1] = {kind = arg(), ref = arg(), expect = arg()} end
  end
  return o
end
-- migrate-target: channel {kind token ref num nfields field*}*
function read.migrate_target()
  local o = {channel = arg(), items = {}}
  while more_args() do
    local it = {kind = arg(), token = arg(), ref = arg(), num = arg(), fields = {}}
    for k = 1, tonumber(arg()) do it.fields[k] = arg() end
    o.items[#o.items + 1] = it
  end
  return o
end
