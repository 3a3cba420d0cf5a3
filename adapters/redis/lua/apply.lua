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
--   P resend npush token {channel id bytes delay-ms}*                              push
-- resend is '1' on a repeat of a try whose reply was lost, reserved-ms when the delivery was
-- reserved (server ms), delay-ms '0' for ready now. A settle's nout entries are follow-ups to
-- channels of other shard groups: they go to this group's outbox (P:outbox) in the same step, and
-- the relay publishes each to its channel with its token (a push operation, below), once.
-- Reply: one status per operation: 1 done, 2 done by an earlier try of the same call, 0 stale,
-- 'E...' an error of that operation only. Each operation checks everything that could fail (key
-- types, delays) before its first write and acknowledges last, so an operation that fails has
-- changed nothing.
local now
local function clock()
  if not now then now = now_ms() end
  return now
end
local function push(p)
  register(p.channel)
  local d = tonumber(p.delay)
  if d > 0 then
    add_delayed(p.channel, p.id, p.bytes, 0, clock() + d)
  else
    add_ready(p.channel, p.id, p.bytes, 0)
  end
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
  for _, p in ipairs(pushes) do
    check_delay(p.delay)
    check_channel_keys(p.channel)
  end
end
local function settle(op)
  local ch, sid = op.channel, op.sid
  local s = skey(ch)
  if #op.pushes == 0 and #op.outbox == 0 then
    -- A plain acknowledgement cannot fail half-way: XACK's answer is the pending check.
    if call('XACK', s, G, sid) == 0 then return repeated(op) end
    forget(ch, sid, op.id)
    return 1
  end
  if not is_pending(s, sid) then return repeated(op) end
  -- Nothing is written before every push is known to go through: a settle that fails changes
  -- nothing, so its redelivery cannot duplicate pushes.
  check_pushes(op.pushes)
  if #op.outbox > 0 then check_outbox(op.outbox) end
  for _, p in ipairs(op.pushes) do push(p) end
  for _, o in ipairs(op.outbox) do outbox_add(o) end
  forget(ch, sid, op.id)
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
  check_pushes(op.pushes)
  for _, p in ipairs(op.pushes) do push(p) end
  call('SET', tk, '1', 'PX', 86400000)
  return 1
end
local run = {S = settle, R = release, P = push_op}
local results = {}
while more_args() do
  -- Read whole before it runs: an operation that fails half-way leaves the next one readable.
  local op, unknown = read.apply_op()
  if not op then return redis.error_reply('failpipe: unknown operation ' .. tostring(unknown)) end
  local ok, res = pcall(run[op.op], op)
  if ok then
    results[#results + 1] = res
  elseif type(res) == 'table' then
    results[#results + 1] = 'E' .. tostring(res.err or res.message or '?')
  else
    results[#results + 1] = 'E' .. tostring(res)
  end
end
return results
