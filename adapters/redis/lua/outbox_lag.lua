#!lua flags=no-writes
--@prelude outbox
-- outbox-lag: how far the relay is behind in this group.
--
-- Arguments (after the prelude's P and visibility ms): none
-- Reply: server ms now, the entries not yet relayed, the stream id of the oldest ('' when none).
local first = call('XRANGE', OUTBOX, '-', '+', 'COUNT', 1)
if #first == 0 then return {now_ms(), 0, ''} end
return {now_ms(), call('XLEN', OUTBOX), first[1][1]}
