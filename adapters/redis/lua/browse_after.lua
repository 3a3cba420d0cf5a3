#!lua flags=no-writes
--@prelude args read_browse_after entries groups
-- browse_after: a page of a channel's waiting messages after a cursor, ready ones first (by stream
-- id), then delayed ones (by due time, then member) — browse's order, at O(log n + limit) a page.
--
-- Arguments (read.browse_after, after the prelude's P and visibility ms):
--   channel limit kind ref score
--   kind: '' (from the start) | 'r' (after stream id ref) | 'd' (after member ref, due score)
-- Reply: {end ('1' | '0'), next cursor ('' when no message), stream id, fields, ...}, the stream id
-- empty for a delayed message. Cursors: 'r:<stream id>', 'd:<score>:<member in hex>'.
local args = read.browse_after()
local ch, limit, kind, ref, score = args.channel, args.limit, args.kind, args.ref, args.score
local s, d = skey(ch), dkey(ch)
local out = {'1', ''}
local taken = 0
local function hex(m) return (string.gsub(m, '.', function(c) return string.format('%02x', string.byte(c)) end)) end
if kind ~= 'd' and call('EXISTS', s) == 1 then
  -- Entries up to the group's last delivered id were handed out: start after the later of the two.
  local start = last_delivered(s)
  if kind == 'r' and sid_less(start, ref) then start = ref end
  local first = '-'
  if start ~= '0-0' then first = '(' .. start end
  local chunk = call('XRANGE', s, first, '+', 'COUNT', limit + 1)
  for _, e in ipairs(chunk) do
    if taken == limit then
      out[1] = '0'
      return out
    end
    out[#out + 1] = e[1]
    out[#out + 1] = e[2]
    out[2] = 'r:' .. e[1]
    taken = taken + 1
  end
end
-- Delayed members after (score, ref): by rank when ref is still there, else those of its score
-- that sort after it, then the later scores.
local want = limit - taken + 1
local members = {}
local function take(list)
  for k = 1, #list, 2 do
    if #members >= 2 * want then return end
    members[#members + 1] = list[k]
    members[#members + 1] = list[k + 1]
  end
end
if kind == 'd' then
  local rank = call('ZRANK', d, ref)
  if rank and call('ZSCORE', d, ref) == score then
    take(call('ZRANGE', d, rank + 1, rank + want, 'WITHSCORES'))
  else
    local off = 0
    while #members < 2 * want do
      local same = call('ZRANGE', d, score, score, 'BYSCORE', 'LIMIT', off, 500, 'WITHSCORES')
      local after = {}
      for k = 1, #same, 2 do
        if same[k] > ref then
          after[#after + 1] = same[k]
          after[#after + 1] = same[k + 1]
        end
      end
      take(after)
      if #same < 1000 then break end
      off = off + 500
    end
    if #members < 2 * want then
      take(call('ZRANGE', d, '(' .. score, '+inf', 'BYSCORE', 'LIMIT', 0, want - #members / 2, 'WITHSCORES'))
    end
  end
else
  take(call('ZRANGE', d, 0, want - 1, 'WITHSCORES'))
end
local b = bkey(ch)
for k = 1, #members, 2 do
  if taken == limit then
    out[1] = '0'
    return out
  end
  local v = call('HGET', b, members[k])
  if v then
    out[#out + 1] = ''
    out[#out + 1] = delayed_fields(members[k], v)
    out[2] = 'd:' .. members[k + 1] .. ':' .. hex(members[k])
    taken = taken + 1
  end
end
return out
