#!lua flags=no-writes
--@prelude args read_lookup entries pending groups lookup
-- move-read, the first half of a move (read only): the waiting messages of a channel with the given
-- ids, as the client must see them to rewrite them, and what the compare-and-swap of the second
-- half (move.lua) checks.
--
-- Arguments (read.lookup, after the prelude's P and visibility ms):
--   channel mode stream-cursor hash-cursor id...
--   mode 'i': each id where the index says it is, when that is in the channel (cursors unused).
--   mode 's': a bounded step of a scan of the channel's waiting entries and delayed set; the
--     cursors are 'start' and '0' on the first step, 'done' when finished.
-- Reply: 'i' {items, ids not found there, ids reserved there}; 's' {items, {stream cursor, hash
-- cursor}}. An item is five elements: id, kind ('s' stream entry | 'd' delayed member), stream id
-- or member, the delayed value ('' for a stream entry: stream entries never change), the entry's
-- fields.
local args = read.lookup()
local ch, mode = args.channel, args.mode
local s, d, b = skey(ch), dkey(ch), bkey(ch)
local items = {}
local function item(id, kind, ref, value, f)
  items[#items + 1] = id
  items[#items + 1] = kind
  items[#items + 1] = ref
  items[#items + 1] = value
  items[#items + 1] = f
end
if mode == 'i' then
  local last = last_delivered(s)
  local left, held = {}, {}
  for _, id in ipairs(args.ids) do
    local kind, ref = indexed_in(ch, id)
    local found = false
    if kind == 'd' then
      local value = call('HGET', b, ref)
      if value and call('ZSCORE', d, ref) then
        item(id, 'd', ref, value, delayed_fields(ref, value))
        found = true
      end
    elseif kind then
      if is_pending(s, ref) then
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
    if not found then left[#left + 1] = id end
  end
  return {items, left, held}
end
local wanted = {}
for _, id in ipairs(args.ids) do wanted[id] = true end
local scursor, hcursor = scan_waiting(ch, wanted, args.scursor, args.hcursor, 2000,
  function(id, sid, f) item(id, 's', sid, '', f) end,
  function(id, member, value, f)
    if call('ZSCORE', d, member) then item(id, 'd', member, value, f) end
  end)
return {items, {scursor, hcursor}}
