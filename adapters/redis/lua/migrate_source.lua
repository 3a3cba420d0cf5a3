#!lua flags=allow-oom
--@prelude args entries pending groups read_migrate
-- migrate-source: the old side of a key-layout migration (every key under {prefix}, P here) to
-- shard groups ({prefix:group}); layout_migration.cpp drives it. On a cluster the two sides are in
-- different slots, so no script can move a message: each batch is read here (R), copied by
-- migrate_target.lua under a token the target refuses twice, then deleted here (D) only if it is
-- still exactly what was read. A run killed anywhere in between is finished by the next one:
-- what was copied but not deleted is read again, its copy refused ('already there'), then deleted.
--
-- Its own key: P:migrated HASH channel -> the group it is being (or was) moved to, written before
-- the first copy of the channel, so that a run with a config that puts it in another group is
-- refused instead of splitting its messages over two groups. Kept after the migration (it is how
-- a later run knows the deployment was moved).
--
-- Arguments (read.migrate_source, after the prelude's P and visibility ms):
--   I channel group limit      inventory: {recorded group or '', reserved for longer than the
--                              visibility timeout, reserved for less, eviction counter, then per
--                              live reservation (at most limit): stream id, idle ms, message id}
--   R channel group max cursor a batch of at most max messages: reserved ones older than the
--                              visibility timeout (kind 'p', given back with one more delivery, as
--                              the reclaim would), then waiting entries after cursor ('s'), then
--                              delayed ones ('d'), and the eviction counter ('e') once the channel
--                              holds nothing else. Reply {'ok', cursor, {kind ref num token
--                              fields}*} (num: the delivery count to write, the due time, or the
--                              counter), {'held', n, {stream id, idle ms, id}*} when live
--                              reservations exist (nothing read), {'elsewhere', group} when an
--                              earlier run moved the channel to another group.
--   D channel {kind ref expect}* deletes what R read, each only if still as read: one letter per
--                              item, 'd' deleted, 'c' changed since (taken by a worker, promoted,
--                              removed: a process of the old layout is still running)
--   F channel                  {1 when the channel held nothing and its keys were removed (0
--                              otherwise), channels left under P}; with none left, P:idx and
--                              P:seq go too
local a = read.migrate_source()
local ch = a.channel
local s, d, b = skey(ch), dkey(ch), bkey(ch)
local EVICTED = P .. ':evicted:' .. ch
local MIGRATED = P .. ':migrated'
local has_group = call('EXISTS', s) == 1 and group_info(s) ~= nil
local last = '0-0'
if has_group then last = last_delivered(s) end

-- Pending entries: all of them, and those idle longer than the visibility timeout.
local function pending()
  if not has_group then return 0, {} end
  local total = call('XPENDING', s, G)[1]
  if total == 0 then return 0, {} end
  return total, call('XPENDING', s, G, 'IDLE', VT, '-', '+', total)
end
-- The live reservations (idle less than the visibility timeout), at most @limit: sid, idle, id.
local function live(limit)
  local out = {}
  local all = call('XPENDING', s, G, '-', '+', 100000)
  for _, p in ipairs(all) do
    if #out >= 3 * limit then break end
    if tonumber(p[3]) < VT then
      local e = call('XRANGE', s, p[1], p[1])
      local id = ''
      if #e > 0 then id = fields_of(e[1][2]) or derived(p[1]) end
      out[#out + 1] = p[1]
      out[#out + 1] = p[3]
      out[#out + 1] = id
    end
  end
  return out
end
local function token(kind, ref, extra) return redis.sha1hex(ch .. '\n' .. kind .. '\n' .. ref .. '\n' .. extra) end
local function waiting(sid) return not has_group or sid_less(last, sid) end

if a.mode == 'I' then
  local total, idle = pending()
  local out = {call('HGET', MIGRATED, ch) or '', #idle, total - #idle, tonumber(call('GET', EVICTED) or '0') or 0}
  if total > #idle then
    for _, v in ipairs(live(a.limit)) do out[#out + 1] = v end
  end
  return out
end

if a.mode == 'R' then
  local rec = call('HGET', MIGRATED, ch)
  if rec and rec ~= a.group then return {'elsewhere', rec} end
  local total, idle = pending()
  if total > #idle then
    local out = {'held', total - #idle}
    for _, v in ipairs(live(20)) do out[#out + 1] = v end
    return out
  end
  if not rec then call('HSET', MIGRATED, ch, a.group) end
  local out = {'ok', a.cursor}
  local room = a.max
  local function add(kind, ref, num, tk, fields)
    out[#out + 1] = kind
    out[#out + 1] = ref
    out[#out + 1] = tostring(num)
    out[#out + 1] = tk
    out[#out + 1] = fields
    room = room - 1
  end
  for _, p in ipairs(idle) do
    if room == 0 then break end
    local e = call('XRANGE', s, p[1], p[1])
    if #e > 0 then
      local _, _, n = fields_of(e[1][2])
      add('p', p[1], n + 1, token('s', p[1], ''), e[1][2])
    else
      -- Trimmed or deleted outside the adapter while reserved: nothing to give back.
      call('XACK', s, G, p[1])
    end
  end
  if room > 0 and call('EXISTS', s) == 1 then
    local start = last
    if a.cursor ~= '' and sid_less(start, a.cursor) then start = a.cursor end
    if start == '0-0' then start = '-' else start = '(' .. start end
    local chunk = call('XRANGE', s, start, '+', 'COUNT', room)
    for _, e in ipairs(chunk) do
      local _, _, n = fields_of(e[2])
      add('s', e[1], n, token('s', e[1], ''), e[2])
      out[2] = e[1]
    end
  end
  if room > 0 then
    local due = call('ZRANGE', d, 0, room - 1, 'WITHSCORES')
    if #due > 0 then
      local members = {}
      for k = 1, #due, 2 do members[#members + 1] = due[k] end
      local vals = call('HMGET', b, unpack(members))
      for k = 1, #members do
        local member, score = members[k], due[2 * k]
        if vals[k] then
          add('d', member, score, token('d', member, score), {vals[k]})
        else
          -- A member without its value: promotion would drop it too.
          call('ZREM', d, member)
        end
      end
    end
  end
  if #out == 2 then
    local n = call('GET', EVICTED)
    if n and tonumber(n) and tonumber(n) > 0 then add('e', '', n, token('e', '', n), {}) end
  end
  return out
end

if a.mode == 'D' then
  local out = {}
  for _, it in ipairs(a.items) do
    local kind, ref, st = it.kind, it.ref, 'c'
    if kind == 's' or kind == 'p' then
      local e = call('XRANGE', s, ref, ref)
      local held = has_group and is_pending(s, ref)
      -- 's' must still be waiting, 'p' still reserved (a reclaim would have put it back as a new entry).
      if #e > 0 and ((kind == 's' and not held and waiting(ref)) or (kind == 'p' and held)) then
        if held then call('XACK', s, G, ref) end
        call('XDEL', s, ref)
        unindex(fields_of(e[1][2]) or derived(ref), loc('s', ref, ch))
        st = 'd'
      end
    elseif kind == 'd' then
      local v = call('HGET', b, ref)
      if v and v == it.expect and call('ZSCORE', d, ref) then
        call('ZREM', d, ref)
        call('HDEL', b, ref)
        unindex(fields_of(delayed_fields(ref, v)) or id_of_member(ref), loc('d', ref, ch))
        st = 'd'
      end
    elseif kind == 'e' then
      if call('GET', EVICTED) == it.expect then
        call('DEL', EVICTED)
        st = 'd'
      end
    end
    out[#out + 1] = st
  end
  return table.concat(out)
end

if a.mode == 'F' then
  local empty = call('ZCARD', d) == 0 and call('EXISTS', EVICTED) == 0
  if empty and call('EXISTS', s) == 1 then
    if has_group then
      empty = call('XPENDING', s, G)[1] == 0 and #call('XRANGE', s, '(' .. last, '+', 'COUNT', 1) == 0
      if last == '0-0' then empty = call('XLEN', s) == 0 end
    else
      empty = call('XLEN', s) == 0
    end
  end
  if empty then
    call('DEL', s, d, b, P .. ':rc:' .. ch)
    call('SREM', CHANNELS, ch)
  end
  local left = call('SCARD', CHANNELS)
  if left == 0 then call('DEL', IDX, P .. ':seq') end
  return {empty and 1 or 0, left}
end

return redis.error_reply('failpipe: migrate-source: unknown mode ' .. tostring(a.mode))
