#!lua flags=allow-oom
--@prelude args read_prepare entries writes requeue groups
-- prepare: readies one channel for a plain XREADGROUP sent right after it in the same round trip:
-- makes the group, promotes due delayed messages, (throttled) gives back idle deliveries, trims
-- acknowledged entries.
--
-- Arguments (read.prepare, after the prelude's P and visibility ms):
--   channel reclaim-throttle-ms
-- Reply: {now-ms, ms until the next delayed message is due (-1: none)}.
local args = read.prepare()
local ch, every = args.channel, args.every
local now = now_ms()
local s, d = skey(ch), dkey(ch)
local pending = try('XPENDING', s, G)
if type(pending) == 'table' and pending.err then
  -- No stream yet (make an empty one, so a blocking read can wait on it), or a stream that lost
  -- its group (deleted, then pushed to again, or made by another producer): deliver it from the
  -- start, and list the channel when it holds messages (reclaim() looks at listed channels).
  if call('EXISTS', s) == 1 then call('SADD', CHANNELS, ch) end
  call('XGROUP', 'CREATE', s, G, '0', 'MKSTREAM')
  pending = {0}
end
local next_due = -1
local head = call('ZRANGE', d, 0, 0, 'WITHSCORES')
if #head > 0 and tonumber(head[2]) <= now then
  promote_due(ch, now)
  head = call('ZRANGE', d, 0, 0, 'WITHSCORES')
end
if #head > 0 then
  next_due = tonumber(head[2]) - now
  if next_due < 0 then next_due = 0 end
end
local throttle = P .. ':rc:' .. ch
if call('SET', throttle, '1', 'PX', every, 'NX') then
  if requeue_idle(ch, 100) == 100 then call('DEL', throttle) end
end
if pending[1] > 0 then
  call('XTRIM', s, 'MINID', '~', pending[2])
elseif call('XLEN', s) > 0 then
  -- Nothing pending: entries up to the last delivered one are all acknowledged.
  local g = group_info(s)
  if g then call('XTRIM', s, 'MINID', '~', g['last-delivered-id']) end
end
return {now, next_due}
