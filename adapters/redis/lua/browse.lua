#!lua flags=no-writes
--@prelude args read_browse entries groups
-- browse: a window of a channel's waiting messages, ready ones first, then delayed ones.
--
-- Arguments (read.browse, after the prelude's P and visibility ms):
--   channel offset limit
-- Reply: {stream id, fields, ...}, the stream id empty for a delayed message.
local args = read.browse()
local ch, skip, limit = args.channel, args.offset, args.limit
local s = skey(ch)
local out = {}
local taken = 0
if limit == 0 then return out end
if call('EXISTS', s) == 1 then
  local g = group_info(s)
  local start = '-'
  if g and g['last-delivered-id'] ~= '0-0' then start = '(' .. g['last-delivered-id'] end
  while taken < limit do
    local chunk = call('XRANGE', s, start, '+', 'COUNT', 500)
    for _, e in ipairs(chunk) do
      if skip > 0 then
        skip = skip - 1
      elseif taken < limit then
        out[#out + 1] = e[1]
        out[#out + 1] = e[2]
        taken = taken + 1
      end
    end
    if #chunk < 500 then break end
    start = '(' .. chunk[#chunk][1]
  end
end
if taken < limit then
  local members = call('ZRANGE', dkey(ch), skip, skip + (limit - taken) - 1)
  if #members > 0 then
    -- HMGET in chunks: unpack() of a long list overflows Lua's stack.
    local b = bkey(ch)
    for first = 1, #members, 1000 do
      local last = math.min(first + 999, #members)
      local vals = call('HMGET', b, unpack(members, first, last))
      for k = first, last do
        local v = vals[k - first + 1]
        if v then
          out[#out + 1] = ''
          out[#out + 1] = delayed_fields(members[k], v)
        end
      end
    end
  end
end
return out
