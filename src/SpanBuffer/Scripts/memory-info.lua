-- memory-info.lua: INFO memory of the node the script runs on, for the hard memory backpressure.
-- Run through a script because StackExchange.Redis refuses INFO (and CONFIG, and Execute("INFO")) on a connection
-- without allowAdmin=true, while Redis allows INFO inside a script. No keys, no writes.
-- Returns the INFO memory section as one bulk string ("used_memory:123\r\nmaxmemory:0\r\n...").
return redis.call("INFO", "memory")
