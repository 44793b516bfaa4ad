-- release-lock.lua: delete a flush lock only if it still holds the given token, so a flush whose lock expired
-- and was taken by another flusher cannot release that flusher's lock.
-- KEYS[1] flush lock   ARGV[1] token        Returns 1 when released, else 0.
if redis.call("GET", KEYS[1]) == ARGV[1] then
    return redis.call("DEL", KEYS[1])
end
return 0
