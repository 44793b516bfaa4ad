-- cleanup-segment.lua: remove from one segment exactly what a flush delivered, and nothing that arrived since.
--
-- A chunk ingested after the flush read the segment is not in the flush's snapshot: its salt stays in the
-- member index, its spans stay counted, and the segment stays queued for a later flush. When nothing is
-- left, the segment's metadata goes and the flush-lock key becomes a fence: while the caller removes the
-- queue entry (another node on a cluster), an ingest for this root detaches into a segment of its own
-- instead of merging into one whose queue entry is about to vanish. Every key shares the segment's
-- {<project>:<trace>} hash tag.
--
-- KEYS[1]  member index   KEYS[2] span counter   KEYS[3] byte counter
-- KEYS[4]  root flag      KEYS[5] flush lock     KEYS[6] redirect hash
-- KEYS[7]  stored salts of the trace (removed salts leave it: a replay of them is new data again)
-- ARGV[1]  the flush's lock token
-- ARGV[2]  fence ttl in seconds
-- ARGV[3]  span counter in the snapshot ("" when it was missing)
-- ARGV[4]  byte counter in the snapshot ("" when it was missing)
-- ARGV[5]  n: number of salts in the snapshot
-- ARGV[6 .. 5+3n]  per salt: salt, spans loaded from its payload set, bytes loaded
-- ARGV[6+3n ..]    span ids delivered (their redirects go)
--
-- Returns { state (1 emptied and fenced, 2 data remains), salts removed, removed flags (only when some
-- salt was already gone: "1"/"0" per salt, in order) }.

local BATCH = 1000
local token = ARGV[1]
local fence_ttl = ARGV[2]
local snapshot_count = tonumber(ARGV[3])
local snapshot_bytes = tonumber(ARGV[4])
local n = tonumber(ARGV[5])
local first_span = 6 + 3 * n

local removed, removed_spans, removed_bytes = 0, 0, 0
local flags = {}
for i = 0, n - 1 do
    local base = 6 + 3 * i
    if redis.call("SREM", KEYS[1], ARGV[base]) == 1 then
        redis.call("HDEL", KEYS[7], ARGV[base])
        removed = removed + 1
        removed_spans = removed_spans + tonumber(ARGV[base + 1])
        removed_bytes = removed_bytes + tonumber(ARGV[base + 2])
        flags[#flags + 1] = "1"
    else
        flags[#flags + 1] = "0"
    end
end

for start = first_span, #ARGV, BATCH do
    redis.call("HDEL", KEYS[6], unpack(ARGV, start, math.min(start + BATCH - 1, #ARGV)))
end

-- An index of the wrong type was read as empty: it goes with the rest.
local ok, remaining = pcall(redis.call, "SCARD", KEYS[1])
if not ok then
    remaining = 0
end

local lock = redis.call("GET", KEYS[5])
if remaining == 0 then
    redis.call("DEL", KEYS[1], KEYS[2], KEYS[3], KEYS[4])
    if not lock or lock == token then
        redis.call("SET", KEYS[5], token, "EX", fence_ttl)
    end
    return { 1, removed, removed < n and flags or {} }
end

-- Chunks arrived after the snapshot: they keep their counts. All the snapshot's salts removed means the
-- snapshot's counters are exactly what went (spans whose payload was missing included); otherwise only
-- what this cleanup removed.
local function subtract(key, amount)
    local current = tonumber(redis.call("GET", KEYS[key]))
    if current and amount and amount > 0 then
        redis.call("SET", KEYS[key], string.format("%d", math.max(0, current - amount)), "KEEPTTL")
    end
end
if removed == n then
    subtract(2, snapshot_count)
    subtract(3, snapshot_bytes)
else
    subtract(2, removed_spans)
    subtract(3, removed_bytes)
end
if lock == token then
    redis.call("DEL", KEYS[5])
end
return { 2, removed, removed < n and flags or {} }
