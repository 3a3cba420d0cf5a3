#!lua flags=no-writes
--@prelude args read_status entries pending groups
-- status: where a message is.
--
-- Arguments (read.status, after the prelude's P and visibility ms):
--   id
-- Reply: {state ('ready' | 'delayed' | 'reserved' | 'not-found'), channel ('' when not found)}.
local id = read.status().id
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
