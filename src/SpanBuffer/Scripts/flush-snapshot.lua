-- flush-snapshot.lua: read one segment's member index and ingest counters at a single instant.
--
-- Read apart, an ingest call landing between the reads makes the counters count a chunk the index does not
-- list (or the reverse), which a flush would report as lost spans. Every key shares the segment's
-- {<project>:<trace>} hash tag, so this runs on one cluster node.
--
-- KEYS[1]  member index   <prefix>:mk:{<pt>}:<root>
-- KEYS[2]  span counter   <prefix>:ic:<segment key>
-- KEYS[3]  byte counter   <prefix>:ibc:<segment key>
--
-- Returns { index_is_set (1|0), salts, ic, ibc }; a missing counter is nil, and an index of the wrong
-- type (corruption) reads as no salts with index_is_set 0.

local ok, salts = pcall(redis.call, "SMEMBERS", KEYS[1])
local index_is_set = 1
if not ok then
    -- Only corruption reads as empty; any other error (a missing permission, say) fails the flush.
    local message = type(salts) == "table" and salts.err or tostring(salts)
    if not string.find(message, "WRONGTYPE", 1, true) then
        return redis.error_reply(message)
    end
    salts = {}
    index_is_set = 0
end
local counters = redis.call("MGET", KEYS[2], KEYS[3])
return { index_is_set, salts, counters[1], counters[2] }
