#!lua flags=allow-oom
--@prelude args read_apply entries writes pending checks outbox
-- apply: settles, releases and pushes, one status per operation. Also sent as "apply-push" with a
-- plain `#!lua` line (scripts.cpp): pushes of new messages are refused when Redis is out of memory,
-- while settles and releases (flags=allow-oom) let consumers drain it.
--
-- Arguments (read.apply_op, after the prelude's P and visibility ms), operations one after the
-- other:
--   S resend channel stream-id id reserved-ms npush {channel id bytes delay-ms}*
--     nout {channel id bytes delay-ms token}*                                      settle
--   R resend channel stream-id id reserved-ms delay-ms                             release
--   P resend nrun token {channel delay-ms n {id bytes}*n}*                         push
--   A channel n resend-flags stream-ids reserved-ms id*n                          plain acks
-- resend is '1' on a repeat of a try whose reply was lost, reserved-ms when the delivery was
-- reserved (server ms), delay-ms '0' for ready now. A settle's nout entries are follow-ups to
-- channels of other shard groups: they go to this group's outbox (P:outbox) in the same step, and
-- the relay publishes each to its channel with its token (a push operation, below), once.
-- A plain-acks operation is n settles without pushes of one channel, packed (script_args.hpp,
-- PlainAcksArg): resend-flags one '0' or '1' each, stream-ids (ascending, spelt as Redis writes
-- them) and reserved-ms joined by single spaces, then each message id; no other operation of the
-- call touches these deliveries or ids. It answers one status per settle, in order.
-- Reply: one status per operation: 1 done, 2 done by an earlier try of the same call, 0 stale,
-- 'E...' an error of that operation only. Each operation checks everything that could fail (key
-- types, delays) before its first write and acknowledges last, so an operation that fails has
-- changed nothing. A call with any 2 also sets P:confirm (confirm_earlier), so that durability
-- "replicas" confirms the earlier try.
local now
local function clock()
  if not now then now = now_ms() end
  return now
end
-- Pushes @pushes, their index entries written together at the end.
local function push_all(pushes)
  local w = {}
  for k = 1, #pushes do
    local p = pushes[k]
    if not registered[p.channel] then register(p.channel) end
    -- '0' (ready now, the usual case) without a number conversion.
    local d = p.delay == '0' and 0 or tonumber(p.delay)
    if d > 0 then
      add_delayed(p.channel, p.id, p.bytes, 0, clock() + d, w)
    else
      add_ready(p.channel, p.id, p.bytes, 0, w)
    end
  end
  index_flush(w)
end
-- Pushes the runs of a push operation (each run's messages to one channel after one delay), their
-- index entries written together at the end, as push_all does.
local function push_runs(runs)
  local w = {}
  for r = 1, #runs do
    local run = runs[r]
    local ch, items = run.channel, run.items
    if not registered[ch] then register(ch) end
    local d = run.delay == '0' and 0 or tonumber(run.delay)
    for k = 1, #items, 2 do
      if d > 0 then
        add_delayed(ch, items[k], items[k + 1], 0, clock() + d, w)
      else
        add_ready(ch, items[k], items[k + 1], 0, w)
      end
    end
  end
  index_flush(w)
end
-- A repeated call finds its entry acknowledged. While the delivery is younger than the visibility
-- timeout nobody else can have taken it, so the first try of this very call did it.
local function repeated(op)
  if op.resend == '1' and clock() - tonumber(op.reserved) < VT then return 2 end
  return 0
end
-- Checks every push of an operation before anything is written.
local function check_pushes(pushes)
  check_common_keys()
  for k = 1, #pushes do
    local p = pushes[k]
    check_delay(p.delay)
    check_channel_keys(p.channel)
  end
end
-- The index's values for @ids (one HMGET), read before an acknowledgement, its first write: an
-- index key of the wrong type (a foreign one) then fails the operation with nothing changed, and
-- the HDEL after it cannot fail.
local function index_of(ids)
  local cur = try('HMGET', IDX, unpack(ids))
  if cur.err then
    check_type(IDX, 'hash')
    error(cur, 0)
  end
  return cur
end
local function settle(op)
  local ch, sid = op.channel, op.sid
  local s = skey(ch)
  if #op.pushes == 0 and #op.outbox == 0 then
    -- A plain acknowledgement cannot fail half-way: XACK's answer is the pending check, and the
    -- index is read before it.
    local where = index_of({op.id})[1]
    if call('XACK', s, G, sid) == 0 then return repeated(op) end
    if where == loc('s', sid, ch) then call('HDEL', IDX, op.id) end
    return 1
  end
  if not is_pending(s, sid) then return repeated(op) end
  -- Nothing is written before every push is known to go through: a settle that fails changes
  -- nothing, so its redelivery cannot duplicate pushes.
  check_pushes(op.pushes)
  if #op.outbox > 0 then check_outbox(op.outbox) end
  local own = false
  for _, p in ipairs(op.pushes) do own = own or p.id == op.id end
  push_all(op.pushes)
  for _, o in ipairs(op.outbox) do outbox_add(o) end
  -- A push of the message itself (a retry) has just pointed the index at its new entry.
  if not own then forget(ch, sid, op.id) end
  call('XACK', s, G, sid)
  return 1
end
local function release(op)
  local ch, sid, delay = op.channel, op.sid, op.delay
  local s = skey(ch)
  if not is_pending(s, sid) then return repeated(op) end
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
    if call('HGET', IDX, op.id) == loc('s', sid, ch) then
      call('HDEL', IDX, op.id)
      redis.log(redis.LOG_WARNING, 'failpipe: released entry ' .. sid .. ' of ' .. ch .. ' was gone (trimmed outside the adapter); its index entry was removed')
    end
  end
  call('XACK', s, G, sid)
  return 1
end
-- A push operation carries a token of its own, the same on every try of one call: a try that
-- finds the token was preceded by one that stored the pushes.
local function push_op(op)
  local tk = P .. ':op:' .. op.token
  if call('EXISTS', tk) == 1 then return 2 end
  check_common_keys()
  for r = 1, #op.runs do
    check_delay(op.runs[r].delay)
    check_channel_keys(op.runs[r].channel)
  end
  push_runs(op.runs)
  call('SET', tk, '1', 'PX', 86400000)
  return 1
end
-- The half of stream id @sid from byte @from to byte @to is as Redis writes it: no leading zero,
-- at most 2^64 - 1 (@sid is digits '-' digits). Positions and bytes only: a string made for each
-- half would cost more than the rest of the check.
local function canonical(sid, from, to)
  local len = to - from + 1
  if len == 1 then return true end
  if string.byte(sid, from) == 48 or len > 20 then return false end
  return len < 20 or string.sub(sid, from, to) <= '18446744073709551615'
end
-- A settle that only acknowledges (no pushes, no follow-ups), of a stream id as Redis writes them
-- (Redis answers XPENDING in that form; any other spelling is settled on its own, as before).
local function plain(op)
  if op.op ~= 'S' or #op.pushes > 0 or #op.outbox > 0 then return false end
  local sid = op.sid
  -- One dash between digits: a pattern without captures, which copies nothing.
  if not string.find(sid, '^%d+%-%d+$') then return false end
  local dash = string.find(sid, '-', 2, true)
  return canonical(sid, 1, dash - 1) and canonical(sid, dash + 1, #sid)
end
-- How often each stream id (@sids[channel][stream id]) and each message id occurs among @ops,
-- pushes included. Per channel, not by a joined key: no new string to make for each operation.
local function occurrences(ops)
  local sids, ids = {}, {}
  local function count(t, k) t[k] = (t[k] or 0) + 1 end
  for k = 1, #ops do
    local op = ops[k]
    if op.sid then
      local of = sids[op.channel]
      if not of then
        of = {}
        sids[op.channel] = of
      end
      count(of, op.sid)
    end
    if op.id then count(ids, op.id) end
    local pushes, outbox, runs = op.pushes or NONE, op.outbox or NONE, op.runs or NONE
    for j = 1, #pushes do count(ids, pushes[j].id) end
    for j = 1, #outbox do count(ids, outbox[j].id) end
    for r = 1, #runs do
      local items = runs[r].items
      for j = 1, #items, 2 do count(ids, items[j]) end
    end
  end
  return sids, ids
end
-- The plain settles of each channel that share neither their stream id nor their message id with
-- any other operation of the call, gathered wherever they stand: each such group runs as one
-- (settle_plain) at the place of its first member. Nothing else touches their entries or index
-- fields, so running them earlier than their turn answers and changes what their turns would.
-- Returns the group starting at each index, and the indexes a group took in.
local function plain_groups(ops)
  local sid_n, id_n = occurrences(ops)
  local by_channel, starts, member = {}, {}, {}
  for k = 1, #ops do
    local op = ops[k]
    if plain(op) and sid_n[op.channel][op.sid] == 1 and id_n[op.id] == 1 then
      local g = by_channel[op.channel]
      if not g then
        g = {ops = {}, at = {}}
        by_channel[op.channel] = g
        starts[k] = g
      end
      g.ops[#g.ops + 1] = op
      g.at[#g.at + 1] = k
    end
  end
  for k, g in pairs(starts) do
    if #g.ops < 2 then
      starts[k] = nil
    else
      for _, at in ipairs(g.at) do member[at] = true end
    end
  end
  return starts, member
end
-- Acknowledges the plain settles of channel @ch whose stream ids @sids (distinct, spanning @first
-- to @last) are pending, @ids[k] the message id of @sids[k], with one XPENDING, XACK, HMGET and
-- HDEL for all of them: one by one they cost three commands each, most of a settle's server time
-- (and on a cluster each command inside a script pays its slot check). Returns the pending ones,
-- as a set: each of them is done, what the others answer is settle()'s for a delivery not pending.
local function ack_pending(ch, sids, ids, first, last)
  local s = skey(ch)
  local pending = pending_among(s, sids, first, last)
  local acked, gone = {}, {}
  for k = 1, #sids do
    local sid = sids[k]
    if pending[sid] then
      acked[#acked + 1] = sid
      gone[#gone + 1] = ids[k]
    end
  end
  if #acked > 0 then
    local cur = index_of(gone)
    call('XACK', s, G, unpack(acked))
    forget_all(ch, acked, gone, cur)
  end
  return pending
end
-- A group of plain settles of one channel gathered from the call's S operations (plain_groups).
local function settle_plain(run)
  local sids, ids = {}, {}
  local first, last = run[1].sid, run[1].sid
  for k = 1, #run do
    local sid = run[k].sid
    sids[k] = sid
    ids[k] = run[k].id
    if sid_less(sid, first) then first = sid elseif sid_less(last, sid) then last = sid end
  end
  local pending = ack_pending(run[1].channel, sids, ids, first, last)
  local statuses = {}
  for k = 1, #run do
    local op = run[k]
    statuses[k] = pending[op.sid] and 1 or repeated(op)
  end
  return statuses
end
-- A plain-acks operation: its stream ids come ascending, so the span needs no comparisons, and
-- only a settle found not pending reads its resend flag and reserved time (as repeated() does).
local function plain_acks(op)
  local sids, n = op.sids, op.n
  if n == 0 then return {} end
  local pending = ack_pending(op.channel, sids, op.ids, sids[1], sids[n])
  local statuses, reserved = {}, nil
  for k = 1, n do
    if pending[sids[k]] then
      statuses[k] = 1
    else
      reserved = reserved or words(op.reserved)
      statuses[k] = repeated({resend = string.sub(op.flags, k, k), reserved = reserved[k]})
    end
  end
  return statuses
end
local function failed(res)
  if type(res) == 'table' then return 'E' .. tostring(res.err or res.message or '?') end
  return 'E' .. tostring(res)
end
-- Every operation is read before any runs: a wrong one refuses the whole call, unapplied.
local ops = {}
while more_args() do
  local op, why = read.apply_op()
  if not op then return redis.error_reply('failpipe: ' .. why) end
  ops[#ops + 1] = op
end
-- Where each operation's statuses start in the reply: a plain-acks operation answers once per
-- settle it carries, every other operation once.
local at, answers = {}, 0
for k = 1, #ops do
  at[k] = answers + 1
  answers = answers + (ops[k].n or 1)
end
local run = {S = settle, R = release, P = push_op}
local results = {}
local starts, member = plain_groups(ops)
for k = 1, #ops do
  local op = ops[k]
  local g = starts[k]
  if g then
    local ok, res = pcall(settle_plain, g.ops)
    for j = 1, #g.at do results[at[g.at[j]]] = ok and res[j] or failed(res) end
  elseif op.op == 'A' then
    local ok, res = pcall(plain_acks, op)
    for j = 1, op.n do results[at[k] + j - 1] = ok and res[j] or failed(res) end
  elseif not member[k] then
    local ok, res = pcall(run[op.op], op)
    results[at[k]] = ok and res or failed(res)
  end
end
for k = 1, answers do
  if results[k] == 2 then
    confirm_earlier()
    break
  end
end
return results
