-- cleanup-segment.lua: remove from segments exactly what a flush delivered, and nothing that arrived since.
--
-- A chunk ingested after the flush read a segment is not in the flush's snapshot: its salt stays in the
-- member index, its spans stay counted, and the segment stays queued for a later flush. When nothing is
-- left, the segment's metadata goes and the flush-lock key becomes a fence: while the caller removes the
-- queue entry (another node on a cluster), an ingest for this root detaches into a segment of its own
-- instead of merging into one whose queue entry is about to vanish. A segment's keys share its
-- {<project>:<trace>} hash tag; several segments go in one call only when all their keys share a slot.
--
-- KEYS, seven per segment: member index, span counter, byte counter, root flag, flush lock, redirect hash,
--       stored salts of the trace (removed salts leave it: a replay of them is new data again); and an eighth,
--       the segment's queue, when the queue shares the slot (a single server)
-- ARGV[1]  keys per segment (7 or 8); then per segment in KEYS order:
--   lock token of the flush, fence ttl in seconds, segment key (the queue member),
--   span counter in the snapshot ("" when missing), byte counter in the snapshot ("" when missing),
--   n salts, then per salt: salt, spans loaded from its payload set, bytes loaded,
--   m span ids delivered (their redirects go), then the m ids
--
-- Returns, per segment, { state (1 emptied and fenced, 2 data remains), salts removed, removed flags (only
-- when some salt was already gone: "1"/"0" per salt, in order), and for state 1 whether the fence is this
-- flush's to remove (1) or another flusher's lock (0), and whether the queue entry was removed here (1) }.

local BATCH = 1000
local keys_per_segment = tonumber(ARGV[1])

local function subtract(key, amount)
    local current = tonumber(redis.call("GET", key))
    if current and amount and amount > 0 then
        redis.call("SET", key, string.format("%d", math.max(0, current - amount)), "KEEPTTL")
    end
end

-- Cleans one segment whose keys start at KEYS[k] and arguments at ARGV[a]; returns its reply and the next a.
local function clean(k, a)
    local token = ARGV[a]
    local fence_ttl = ARGV[a + 1]
    local member = ARGV[a + 2]
    local snapshot_count = tonumber(ARGV[a + 3])
    local snapshot_bytes = tonumber(ARGV[a + 4])
    local n = tonumber(ARGV[a + 5])
    local first_salt = a + 6
    local first_span = first_salt + 3 * n + 1
    local last_span = first_span + tonumber(ARGV[first_span - 1]) - 1
    local index, count, bytes, root_flag, lock_key, redirects, stored_salts =
        KEYS[k], KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], KEYS[k + 4], KEYS[k + 5], KEYS[k + 6]
    local queue = keys_per_segment == 8 and KEYS[k + 7] or nil

    -- Which of the snapshot's salts are still listed (the rest went with another flusher's cleanup, or were
    -- merged elsewhere meanwhile): remove those, with one call per batch of salts.
    local removed, removed_spans, removed_bytes = 0, 0, 0
    local flags = {}
    local salts = {}
    for i = 0, n - 1 do
        salts[#salts + 1] = ARGV[first_salt + 3 * i]
    end
    local ours = {}
    for start = 1, n, BATCH do
        local answers = redis.call("SMISMEMBER", index, unpack(salts, start, math.min(start + BATCH - 1, n)))
        for j = 1, #answers do
            local i = start + j - 1
            if answers[j] == 1 then
                local salt = first_salt + 3 * (i - 1)
                ours[#ours + 1] = salts[i]
                removed_spans = removed_spans + tonumber(ARGV[salt + 1])
                removed_bytes = removed_bytes + tonumber(ARGV[salt + 2])
                flags[i] = "1"
            else
                flags[i] = "0"
            end
        end
    end
    removed = #ours

    -- An index of the wrong type was read as empty: it goes with the rest. An index holding only this flush's
    -- salts (the common case) is deleted whole below instead of emptied salt by salt.
    local ok, listed = pcall(redis.call, "SCARD", index)
    local remaining = ok and listed - removed or 0
    for start = 1, removed, BATCH do
        local stop = math.min(start + BATCH - 1, removed)
        if remaining > 0 then
            redis.call("SREM", index, unpack(ours, start, stop))
        end
        redis.call("HDEL", stored_salts, unpack(ours, start, stop))
    end

    for start = first_span, last_span, BATCH do
        redis.call("HDEL", redirects, unpack(ARGV, start, math.min(start + BATCH - 1, last_span)))
    end

    local lock = redis.call("GET", lock_key)
    local reply_flags = removed < n and flags or {}
    if remaining == 0 then
        redis.call("DEL", index, count, bytes, root_flag)
        if queue then
            -- Same slot (a single server): the queue entry goes now, atomically, and no fence is needed.
            redis.call("ZREM", queue, member)
            if lock == token then
                redis.call("DEL", lock_key)
            end
            return { 1, removed, reply_flags, 0, 1 }, last_span + 1
        end
        if not lock then
            redis.call("SET", lock_key, token, "EX", fence_ttl)
        end
        -- Another flusher's lock fences as well, and stays theirs to release.
        return { 1, removed, reply_flags, (not lock or lock == token) and 1 or 0, 0 }, last_span + 1
    end

    -- Chunks arrived after the snapshot: they keep their counts. All the snapshot's salts removed means the
    -- snapshot's counters are exactly what went (spans whose payload was missing included); otherwise only
    -- what this cleanup removed.
    if removed == n then
        subtract(count, snapshot_count)
        subtract(bytes, snapshot_bytes)
    else
        subtract(count, removed_spans)
        subtract(bytes, removed_bytes)
    end
    if lock == token then
        redis.call("DEL", lock_key)
    end
    return { 2, removed, reply_flags }, last_span + 1
end

local results = {}
local a = 2
for k = 1, #KEYS, keys_per_segment do
    results[#results + 1], a = clean(k, a)
end
return results
