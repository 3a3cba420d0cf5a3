#!lua flags=no-writes
--@prelude args read_channel groups
-- depth: how many messages a channel holds. Ready = entries after the group's last delivered id:
-- the group's lag when Redis knows it (it does not after XDEL of a waiting entry), else counted.
--
-- Arguments (read.channel, after the prelude's P and visibility ms):
--   channel
-- Reply: {ready, delayed, reserved}.
local ch = read.channel().channel
local s = skey(ch)
-- Delayed messages that are due count as ready (the next reserve promotes them).
local due = call('ZCOUNT', dkey(ch), '-inf', now_ms())
local delayed = call('ZCARD', dkey(ch)) - due
if call('EXISTS', s) == 0 then return {due, delayed, 0} end
local g = group_info(s)
if not g then return {call('XLEN', s) + due, delayed, 0} end
local function last_generated_id(key)
  local info = call('XINFO', 'STREAM', key)
  for k = 1, #info, 2 do
    if info[k] == 'last-generated-id' then return info[k + 1] end
  end
  return nil
end
local last = g['last-delivered-id']
local ready
if last == '0-0' then
  ready = call('XLEN', s)
elseif last == last_generated_id(s) then
  -- Everything ever added was delivered. Checked before trusting 'lag': after an AOF rewrite and a
  -- restart Redis replays deliveries as XCLAIM ... LASTID, which moves the last delivered id but
  -- not 'entries-read', so the lag it reports stays high forever.
  ready = 0
elseif g['lag'] then
  ready = math.min(g['lag'], call('XLEN', s))
else
  ready = 0
  local start = '(' .. last
  while true do
    local chunk = call('XRANGE', s, start, '+', 'COUNT', 1000)
    ready = ready + #chunk
    if #chunk < 1000 then break end
    start = '(' .. chunk[#chunk][1]
  end
end
return {ready + due, delayed, g['pending']}
