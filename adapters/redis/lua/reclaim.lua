#!lua flags=allow-oom
--@prelude entries writes requeue
-- reclaim: gives every listed channel's deliveries idle longer than the visibility timeout back.
--
-- Arguments (after the prelude's P and visibility ms): none
-- Reply: how many deliveries were given back.
local total = 0
for _, ch in ipairs(call('SMEMBERS', CHANNELS)) do
  if call('EXISTS', skey(ch)) == 1 then
    local n
    repeat
      n = requeue_idle(ch, 1000)
      total = total + n
    until n < 1000 or total >= 100000
  end
end
return total
