-- add-buffer.lua: insert one subsegment (a chunk of spans that share a parent within one ingest batch)
-- into its segment, following redirects to the segment root and merging child segments that were
-- rooted at spans of this chunk.
--
-- Cluster: the only declared key is the bare "<project>:<trace>" (no braces). A key without a hash tag
-- hashes its whole name, so it lands in the same slot as every key below, whose hash tag is
-- "{<project>:<trace>}". The script never touches payload keys or queues (other slots).
--
-- KEYS[1]  project_and_trace
-- ARGV[1]  key prefix ("span-buf")
-- ARGV[2]  number of spans in the chunk
-- ARGV[3]  parent span id of the tree this chunk belongs to
-- ARGV[4]  "true" when the chunk contains a segment span
-- ARGV[5]  ttl in seconds for every key written
-- ARGV[6]  raw payload bytes of the chunk
-- ARGV[7]  max segment bytes (0 = no limit)
-- ARGV[8]  salt of the chunk (its payload key is <prefix>:s:{<pt>:<salt>}:<salt>)
-- ARGV[9]  "true" to detach when the target segment's flush lock is held
-- ARGV[10..] span ids of the chunk
--
-- Returns { segment_key, has_root (0|1), detach_reason (0 none, 1 too large, 2 locked), merged_roots, replayed (0|1) }
-- where merged_roots lists the chunk span ids that were roots of segments merged by this call, and replayed
-- tells that the chunk's salt was already registered (a replayed batch): its spans are not counted again.
--
-- Replays are idempotent in the counters: the trace's stored-salts hash (<prefix>:ss:{<pt>}) records every
-- chunk stored and not yet cleaned up, and only a chunk new there is counted and listed. A replay of a
-- chunk that was detached reports its detached segment (whose counter ic(<salt>) still exists).

local pt = KEYS[1]
local prefix = ARGV[1]
local num_spans = tonumber(ARGV[2])
local parent_span_id = ARGV[3]
local chunk_has_root = ARGV[4] == "true"
-- Passed to Redis as given: a Lua number would be formatted back into a string on every call.
local ttl = ARGV[5]
local byte_count = tonumber(ARGV[6])
local max_segment_bytes = tonumber(ARGV[7])
local salt = ARGV[8]
local check_flush_lock = ARGV[9] == "true"
local first_span = 10
local last_span = #ARGV

-- Lua's unpack has a C stack limit; keep every variadic call well below it.
local BATCH = 1000

local segment_prefix = prefix .. ":s:{" .. pt .. "}:"
local redirect_key = prefix .. ":ssr:{" .. pt .. "}"
local stored_salts_key = prefix .. ":ss:{" .. pt .. "}"
local members_prefix = prefix .. ":mk:{" .. pt .. "}:"
local ic_prefix = prefix .. ":ic:" .. segment_prefix
local ibc_prefix = prefix .. ":ibc:" .. segment_prefix
local function ic(root) return ic_prefix .. root end
local function ibc(root) return ibc_prefix .. root end
local function hrs(root) return prefix .. ":hrs:" .. segment_prefix .. root end
local function fl(root) return prefix .. ":fl:" .. segment_prefix .. root end

local function call_in_batches(command, key, items, per_item)
    local args = {}
    for i = 1, #items do
        args[#args + 1] = items[i]
        if #args >= BATCH * per_item then
            redis.call(command, key, unpack(args))
            args = {}
        end
    end
    if #args > 0 then
        redis.call(command, key, unpack(args))
    end
end

-- 1. Resolve the segment root: at most 101 redirect lookups, as the reference does.
local root = parent_span_id
for _ = 0, 100 do
    local next_root = redis.call("HGET", redirect_key, root)
    if not next_root or next_root == root then
        break
    end
    root = next_root
end
local original_root = root

-- 2. Child segments: chunk spans other than the tree's parent (and, guarding against duplicate or
--    cyclic ids, other than the resolved root itself) may be roots of segments written earlier.
local children = {}
local seen = {}
for i = first_span, last_span do
    local span_id = ARGV[i]
    if span_id ~= parent_span_id and span_id ~= original_root and not seen[span_id] then
        seen[span_id] = true
        children[#children + 1] = span_id
    end
end

-- 3. One MGET per batch reads the target's flag, counters and lock, the counter of a segment detached for
--    this very chunk earlier, and every child's span count:
--    [hrs(root), ic(root), ibc(root), fl(root), ic(salt), ic(c1), ic(c2), ...]. A child's byte counter exists
--    exactly when its span counter does, so it is read only for the (few) children that turn out to be roots.
local child_ingested = {}
local merged = {}
local target_flag, target_count_text, target_bytes_text, target_lock, detached_count_text
for start = 1, math.max(#children, 1), BATCH do
    local stop = math.min(start + BATCH - 1, #children)
    local keys = {}
    if start == 1 then
        keys = { hrs(root), ic(root), ibc(root), fl(root), ic(salt) }
    end
    for i = start, stop do
        keys[#keys + 1] = ic(children[i])
    end
    local values = redis.call("MGET", unpack(keys))
    local offset = 0
    if start == 1 then
        target_flag, target_count_text, target_bytes_text = values[1], values[2], values[3]
        target_lock, detached_count_text = values[4], values[5]
        offset = 5
    end
    for i = start, stop do
        local value = values[offset + i - start + 1]
        if value then
            child_ingested[i] = tonumber(value)
            merged[#merged + 1] = i
        end
    end
end

local child_bytes = 0
if #merged > 0 then
    local keys = {}
    for _, i in ipairs(merged) do
        keys[#keys + 1] = ibc(children[i])
    end
    for start = 1, #keys, BATCH do
        local values = redis.call("MGET", unpack(keys, start, math.min(start + BATCH - 1, #keys)))
        for j = 1, #values do
            if values[j] then
                child_bytes = child_bytes + tonumber(values[j])
            end
        end
    end
end
local chunk_bytes = byte_count

-- 4. Root flag and redirects, both on the original target, before any detach decision.
local has_root = chunk_has_root or target_flag == "1"
if has_root then
    redis.call("SET", hrs(root), "1", "EX", ttl)
end

local redirect_pairs = {}
for i = first_span, last_span do
    redirect_pairs[#redirect_pairs + 1] = ARGV[i]
    redirect_pairs[#redirect_pairs + 1] = root
end
call_in_batches("HSET", redirect_key, redirect_pairs, 2)
redis.call("EXPIRE", redirect_key, ttl)

-- 5. Where the chunk goes. A salt already stored (and not yet cleaned up) is a replay: it is not
--    counted or listed again, wherever merges moved it since; its segment is looked up so the queue
--    entry a failed call may have left unwritten is written now. A new chunk detaches when over the
--    size limit, or when the target is being flushed under a lock (or fenced by a cleanup in progress).
local target_bytes = tonumber(target_bytes_text or "0")
local target_count = tonumber(target_count_text or "0")
local detach_reason = 0
local fresh = redis.call("HSETNX", stored_salts_key, salt, "1") == 1
redis.call("EXPIRE", stored_salts_key, ttl)
if fresh then
    if max_segment_bytes > 0 and target_bytes + chunk_bytes + child_bytes > max_segment_bytes then
        detach_reason = 1
    elseif check_flush_lock and target_lock then
        detach_reason = 2
    end
    if detach_reason ~= 0 then
        root = salt
        target_count = 0
        target_bytes = 0
    end
    redis.call("SADD", members_prefix .. root, salt)
else
    num_spans = 0
    chunk_bytes = 0
    if detached_count_text and redis.call("SISMEMBER", members_prefix .. root, salt) == 0 then
        root = salt
        target_count = tonumber(detached_count_text)
        target_bytes = tonumber(redis.call("GET", ibc(root)) or "0")
    end
end
local members_key = members_prefix .. root

-- 6. Merge children: their counts and member indexes; then delete their keys in one DEL.
local merged_roots = {}
local stale_keys = {}
local function merge_members(child)
    local source = members_prefix .. child
    local cursor = "0"
    repeat
        local page = redis.call("SSCAN", source, cursor, "COUNT", "1000")
        cursor = page[1]
        if #page[2] > 0 then
            call_in_batches("SADD", members_key, page[2], 1)
        end
    until cursor == "0"
    stale_keys[#stale_keys + 1] = source
end
for _, i in ipairs(merged) do
    local child = children[i]
    target_count = target_count + child_ingested[i]
    merged_roots[#merged_roots + 1] = child
    stale_keys[#stale_keys + 1] = ic(child)
    stale_keys[#stale_keys + 1] = ibc(child)
    merge_members(child)
end

-- A child's member index normally exists exactly when its counter does; EXISTS over the rest keeps
-- this exact for keys written otherwise, at the cost of one call instead of one SSCAN per span.
local unmerged = {}
for i = 1, #children do
    if not child_ingested[i] then
        unmerged[#unmerged + 1] = members_prefix .. children[i]
    end
end
for start = 1, #unmerged, BATCH do
    local stop = math.min(start + BATCH - 1, #unmerged)
    if redis.call("EXISTS", unpack(unmerged, start, stop)) > 0 then
        for i = start, stop do
            merge_members(string.sub(unmerged[i], #members_prefix + 1))
        end
    end
end
for start = 1, #stale_keys, BATCH do
    redis.call("DEL", unpack(stale_keys, start, math.min(start + BATCH - 1, #stale_keys)))
end

-- 7. Keep the member index alive and write the target's counters.
redis.call("EXPIRE", members_key, ttl)
-- Format as integers: Redis would render large Lua numbers in exponent notation (and %d needs no float formatting).
redis.call("SET", ic(root), string.format("%d", target_count + num_spans), "EX", ttl)
redis.call("SET", ibc(root), string.format("%d", target_bytes + chunk_bytes + child_bytes), "EX", ttl)

return { segment_prefix .. root, has_root and 1 or 0, detach_reason, merged_roots, fresh and 0 or 1 }
