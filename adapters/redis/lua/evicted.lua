#!lua flags=no-writes
--@prelude args read_channel
-- evicted: the eviction counter of a channel (AdapterInterface::evicted), 0 when never evicted.
--
-- Arguments (read.channel, after the prelude's P and visibility ms):
--   channel
-- Reply: an integer.
return tonumber(call('GET', P .. ':evicted:' .. read.channel().channel) or '0')
