#!lua
--@prelude args entries writes checks read_migrate
-- migrate-target: the new side of a key-layout migration (see migrate_source.lua): writes what
-- migrate-source read into one channel of this shard group (P is the group's {prefix:group}), each
-- message at most once: its token (derived from where it was in the old layout) is kept as
-- P:op:migrate:<token> for 7 days, and a message whose token is there is not written again. Plain
-- `#!lua`: refused when Redis is out of memory, like any push.
--
-- Arguments (read.migrate_target, after the prelude's P and visibility ms):
--   channel {kind token ref num nfields field*}*
--   kind 's' or 'p' (a stream entry: ref its old stream id, num the delivery count to write,
--   fields its fields as they were), 'd' (a delayed message: ref its member, num its due time in
--   server ms, one field: its value), 'e' (num added to the channel's eviction counter, no field)
-- Reply: one letter per item: 'm' written now, 'a' already there (written by an earlier run; then
-- the call also sets P:confirm, see confirm_earlier).
-- Every check (key types, numbers) comes before the first write: a call that fails wrote nothing.
local a = read.migrate_target()
local ch = a.channel
check_common_keys()
check_channel_keys(ch)
local EVICTED = P .. ':evicted:' .. ch
check_type(EVICTED, 'string')
for _, it in ipairs(a.items) do
  if not tonumber(it.num) or (it.kind == 'd' and #it.fields ~= 1) then
    error('failpipe: migrate-target: bad item ' .. tostring(it.kind) .. ' ' .. tostring(it.num) .. '; nothing was changed', 0)
  end
end
register(ch)
local out = {}
for _, it in ipairs(a.items) do
  local tk = P .. ':op:migrate:' .. it.token
  if call('EXISTS', tk) == 1 then
    out[#out + 1] = 'a'
  else
    if it.kind == 'd' then
      local f = delayed_fields(it.ref, it.fields[1])
      local id = fields_of(f)
      if not id then
        id = id_of_member(it.ref)
        table.insert(f, 1, id)
        table.insert(f, 1, 'i')
      end
      add_delayed_fields(ch, id, f, it.num)
    elseif it.kind == 'e' then
      call('INCRBY', EVICTED, it.num)
    else
      local f, id = carried_fields(it.fields, it.ref, tonumber(it.num))
      call('HSET', IDX, id, loc('s', call('XADD', skey(ch), '*', unpack(f)), ch))
    end
    call('SET', tk, '1', 'PX', 604800000)
    out[#out + 1] = 'm'
  end
end
local letters = table.concat(out)
-- An item already there was copied by an earlier run, whose writes the WAIT after this call must
-- cover before migrate-source deletes the old entries (confirm_earlier).
if string.find(letters, 'a', 1, true) then confirm_earlier() end
return letters
