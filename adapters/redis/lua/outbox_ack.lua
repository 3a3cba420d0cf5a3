#!lua flags=allow-oom
--@prelude args read_outbox outbox
-- outbox-ack: the relay published these outbox entries: acknowledged and deleted in one step, so
-- the outbox holds exactly what is not relayed yet (outbox_lag.lua counts it).
--
-- Arguments (read.outbox_ack, after the prelude's P and visibility ms):
--   stream-id...
-- Reply: how many entries were deleted.
local ids = read.outbox_ack().ids
if #ids == 0 then return 0 end
try('XACK', OUTBOX, G, unpack(ids))
return call('XDEL', OUTBOX, unpack(ids))
