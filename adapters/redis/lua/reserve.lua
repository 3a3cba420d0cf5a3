#!lua flags=allow-oom
--@prelude args read_reserve entries writes requeue
-- reserve: for each channel in order, promote due delayed messages, (throttled) give back idle
-- deliveries, read new entries, trim acknowledged ones.
--
-- Arguments (read.reserve, after the prelude's P and visibility ms):
--   max reclaim-throttle-ms channel...
-- Reply: now-ms, ms until the next delayed message is due (-1: none), then per entry: channel
-- index (1-based), stream id, its fields.
local args = read.reserve()
local max, every = args.max, args.every
local now = now_ms()
local out = {now, -1}
local next_due = -1
local remaining = max
local function promote(ch)
  local d = dkey(ch)
  local head = call('ZRANGE', d, 0, 0, 'WITHSCORES')
  if #head == 0 then return -1 end
  if tonumber(head[2]) > now then return tonumber(head[2]) - now end
  promote_due(ch, now)
  head = call('ZRANGE', d, 0, 0, 'WITHSCORES')
  if #head == 0 then return -1 end
  local wait = tonumber(head[2]) - now
  if wait < 0 then wait = 0 end
  return wait
end
local function read_channel(ch, index, count)
  local s = skey(ch)
  local r = try('XREADGROUP', 'GROUP', G, G, 'COUNT', count, 'STREAMS', s, '>')
  if type(r) == 'table' and r.err then
    -- The stream lost its group (deleted, then pushed to again), or another producer made it:
    -- deliver it from the start, and list the channel (reclaim() looks at listed channels).
    try('XGROUP', 'CREATE', s, G, '0', 'MKSTREAM')
    call('SADD', CHANNELS, ch)
    r = call('XREADGROUP', 'GROUP', G, G, 'COUNT', count, 'STREAMS', s, '>')
  end
  if not r then return 0 end
  local entries = r[1][2]
  -- Appended at a counted position: #out would search the table for its end three times an entry.
  local at = #out
  for k = 1, #entries do
    local e = entries[k]
    -- The fields as they are: the client makes the delivery (entry.cpp), whatever their shape.
    out[at + 1] = index
    out[at + 2] = e[1]
    out[at + 3] = e[2]
    at = at + 3
  end
  return #entries
end
local function trim(ch, drained)
  local s = skey(ch)
  local p = call('XPENDING', s, G)
  if p[1] > 0 then
    call('XTRIM', s, 'MINID', '~', p[2])
  elseif drained and call('XLEN', s) > 0 then
    -- Nothing pending and nothing left to read: every entry is acknowledged.
    call('XTRIM', s, 'MAXLEN', 0)
  end
end
for c, ch in ipairs(args.channels) do
  local s = skey(ch)
  if call('EXISTS', s) == 0 then
    -- An empty stream with its group, so that a blocking read can wait on the channel.
    call('XGROUP', 'CREATE', s, G, '0', 'MKSTREAM')
  end
  local wait = promote(ch)
  if wait >= 0 and (next_due < 0 or wait < next_due) then next_due = wait end
  local throttle = P .. ':rc:' .. ch
  if call('SET', throttle, '1', 'PX', every, 'NX') then
    -- A full batch means more may be idle: look again on the next call.
    if requeue_idle(ch, 100) == 100 then call('DEL', throttle) end
  end
  if remaining > 0 then
    local got = read_channel(ch, c, remaining)
    remaining = remaining - got
    trim(ch, got == 0)
  end
end
out[2] = next_due
return out
