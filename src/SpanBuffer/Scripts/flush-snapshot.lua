-- flush-snapshot.lua: read segments' member indexes and ingest counters, each segment at a single instant.
--
-- Read apart, an ingest call landing between the reads makes the counters count a chunk the index does not
-- list (or the reverse), which a flush would report as lost spans. A segment's keys share its
-- {<project>:<trace>} hash tag; several segments go in one call only when all their keys share a slot (on a
-- single server, always), which saves a round of script calls per segment.
--
-- KEYS, three per segment:  member index <prefix>:mk:{<pt>}:<root>,  span counter <prefix>:ic:<segment key>,
--                           byte counter <prefix>:ibc:<segment key>
--
-- Returns, per segment, { index_is_set (1|0), salts, ic, ibc }; a missing counter is nil, and an index of the
-- wrong type (corruption) reads as no salts with index_is_set 0.

local results = {}
local counter_keys = {}
for base = 1, #KEYS, 3 do
    local ok, salts = pcall(redis.call, "SMEMBERS", KEYS[base])
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
    results[#results + 1] = { index_is_set, salts, false, false }
    counter_keys[#counter_keys + 1] = KEYS[base + 1]
    counter_keys[#counter_keys + 1] = KEYS[base + 2]
end

-- One MGET for every counter of the call (the script runs atomically, so still the same instant).
local counters = redis.call("MGET", unpack(counter_keys))
for i = 1, #results do
    results[i][3] = counters[2 * i - 1]
    results[i][4] = counters[2 * i]
end
return results
