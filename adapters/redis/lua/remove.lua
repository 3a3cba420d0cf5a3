#!lua flags=allow-oom
--@prelude args read_lookup entries pending groups lookup
-- remove: takes waiting messages of a channel away (AdapterInterface::remove and evict). Only
-- waiting messages go; a reserved one belongs to its worker.
--
-- Arguments (read.lookup, after the prelude's P and visibility ms):
--   channel mode stream-cursor hash-cursor id...
--   mode 'i': each id where the index says it is, when that is in the channel (cursors unused).
--   mode 's': a bounded step of a scan of the channel's waiting entries and delayed set for the ids
--     (an id pushed again to another channel since, an entry of a foreign producer); the cursors
--     are 'start' and '0' on the first step, 'done' when finished.
--   'I' and 'S' are 'i' and 's' of an eviction: what the step removes is also added to the
--   channel's eviction counter, in the same atomic step (no eviction goes uncounted).
-- Reply: 'i' {removed, ids not found there}; 's' {removed, stream cursor, hash cursor}.
local args = read.lookup()
local ch, mode = args.channel, args.mode
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
  for _, id in ipairs(args.ids) do
    local kind, ref = indexed_in(ch, id)
    local found = false
    if kind == 'd' then
      if call('ZREM', d, ref) == 1 then
        call('HDEL', b, ref)
        call('HDEL', IDX, id)
        removed = removed + 1
        found = true
      end
    elseif kind then
      if is_pending(s, ref) then
        found = true
      elseif call('XDEL', s, ref) == 1 then
        call('HDEL', IDX, id)
        removed = removed + 1
        found = true
      end
    end
    if not found then left[#left + 1] = id end
  end
  return counted({removed, left})
end
local wanted = {}
for _, id in ipairs(args.ids) do wanted[id] = true end
local scursor, hcursor = scan_waiting(ch, wanted, args.scursor, args.hcursor, 5000,
  function(id, sid)
    if call('XDEL', s, sid) == 1 then
      removed = removed + 1
      unindex(id, loc('s', sid, ch))
    end
  end,
  function(id, member)
    if call('ZREM', d, member) == 1 then
      call('HDEL', b, member)
      unindex(id, loc('d', member, ch))
      removed = removed + 1
    end
  end)
return counted({removed, scursor, hcursor})
