#!lua flags=allow-oom
--@prelude args read_outbox outbox
-- outbox-take: the relay's reservation of outbox entries (shard groups). First entries that another
-- relay took longer than the visibility timeout ago and never acknowledged (it died, or could not
-- publish them: XAUTOCLAIM), then new ones (XREADGROUP), at most max in all. The consumer group
-- is made on first use, from id 0, so entries added before it are taken too.
--
-- Arguments (read.outbox_take, after the prelude's P and visibility ms):
--   max
-- Reply: server ms now, then stream id and fields (t i b d k) of each entry taken.
local a = read.outbox_take()
local out = {now_ms()}
if call('EXISTS', OUTBOX) == 0 then return out end
local function add(entries)
  for _, e in ipairs(entries) do
    -- An entry deleted while it was pending has no fields: nothing to publish.
    if e[2] then
      out[#out + 1] = e[1]
      out[#out + 1] = e[2]
    end
  end
end
local claimed = try('XAUTOCLAIM', OUTBOX, G, G, VT, '0-0', 'COUNT', a.max)
if claimed.err then
  if not string.find(claimed.err, 'NOGROUP', 1, true) then error(claimed, 0) end
  call('XGROUP', 'CREATE', OUTBOX, G, '0')
  claimed = {'0-0', {}}
end
add(claimed[2])
local left = a.max - (#out - 1) / 2
if left > 0 then
  local got = call('XREADGROUP', 'GROUP', G, G, 'COUNT', left, 'STREAMS', OUTBOX, '>')
  if got then add(got[1][2]) end
end
return out
