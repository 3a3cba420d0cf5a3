#!lua flags=allow-oom
--@prelude args read_move entries writes pending checks groups outbox
-- move, second half: moves the messages move_read.lua read, each only if it is still exactly what
-- was read and still waiting (compare-and-swap): it leaves the source and joins the target in this
-- one script. The reply is stored under the token, so a repeat of the same call (its reply was
-- lost) answers it again and moves nothing twice.
--
-- With shard groups, a target of another group has its keys in another slot, which this script
-- cannot write: via 'o' puts each message into this group's outbox instead (P:outbox, the entry a
-- settle writes for a follow-up to another group, its push token the call's token and the
-- message's number among those this call moves), and the outbox relay publishes it to the target once.
--
-- Arguments (read.move, after the prelude's P and visibility ms):
--   from to delay-ms token via {kind ref value id how bytes}*
--   via 't' (into the target's keys) or 'o' (into this group's outbox, addressed to the target);
--   kind 's' (stream entry) or 'd' (delayed member), ref its stream id or member, value the
--   delayed value read ('' for a stream entry), id the message id, how 'k' (keep the fields) or
--   'r' (replace the bytes), bytes the new bytes ('' with 'k')
-- Reply: one letter per message: 'm' moved, 'g' gone (not in the channel any more), 'r' reserved,
-- 'c' changed (read it again), 'f' (via 'o' only) not moved: the entry has fields an outbox entry
-- cannot carry (another producer's, or no bytes).
local args = read.move()
local from, to, delay, token = args.from, args.to, tonumber(args.delay), args.token
local outbox = args.via == 'o'
check_common_keys()
check_channel_keys(from)
if outbox then
  check_type(OUTBOX, 'stream')
else
  check_channel_keys(to)
end
check_delay(args.delay)
-- SET … NX GET rather than GET: the ACL list stays what it was. '' would be a try that failed
-- half-way (it cannot, every check is above): treated as not done.
local tk = P .. ':op:' .. token
local done = call('SET', tk, '', 'PX', 86400000, 'NX', 'GET')
if done and done ~= '' then return done end
local s, d, b = skey(from), dkey(from), bkey(from)
local last = last_delivered(s)
local due
if delay > 0 and not outbox then due = now_ms() + delay end
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
-- An outbox entry carries a message's id and bytes only: an entry of the adapter's own shape
-- (i, b, n, o, each once, b present) loses nothing there; any other is left where it is.
local function carriable(f)
  local seen = {}
  for k = 1, #f, 2 do
    local name = f[k]
    if seen[name] or (name ~= 'i' and name ~= 'b' and name ~= 'n' and name ~= 'o') then return false end
    seen[name] = true
  end
  return seen['b'] == true
end
local sent = 0
local function send(f, id, body)
  if not body then
    local _, bytes = fields_of(f)
    body = bytes
  end
  sent = sent + 1
  outbox_add({channel = to, id = id, bytes = body, delay = args.delay, token = token .. '.' .. sent})
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
for _, it in ipairs(args.items) do
  local kind, ref, expect, id, how, body = it.kind, it.ref, it.value, it.id, it.how, it.bytes
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
    elseif outbox and not carriable(e[1][2]) then
      st = 'f'
    else
      call('XDEL', s, ref)
      unindex(id, loc('s', ref, from))
      if outbox then
        send(e[1][2], id, body)
      else
        place(moved_fields(e[1][2], ref, id, body), id)
      end
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
      local f = delayed_fields(ref, v)
      if outbox and not carriable(f) then
        st = 'f'
      else
        call('ZREM', d, ref)
        call('HDEL', b, ref)
        unindex(id, loc('d', ref, from))
        if outbox then
          send(f, id, body)
        else
          place(moved_fields(f, nil, id, body), id)
        end
        st = 'm'
      end
    end
  end
  out[#out + 1] = st
end
local r = table.concat(out)
call('SET', tk, r, 'PX', 86400000)
return r
