using StackExchange.Redis;

namespace SpanBuffer.Redis;

/// <summary>
/// All Redis I/O of the buffer. Methods return typed entities; no caller ever pairs raw reply lists with
/// their inputs. Every write is idempotent or harmless to repeat, because a cancelled command may still run.
/// </summary>
internal sealed partial class RedisSpanStore(IDatabase database, KeySchema keys)
{
    private readonly IDatabase _database = database;
    private readonly KeySchema _keys = keys;

    /// <summary>
    /// Waits for every pipelined reply before any is read, so a failure surfaces once and no faulted reply is left
    /// unobserved behind it.
    /// </summary>
    /// <summary>
    /// Gets a value indicating whether Redis is a single server: there every key shares one "slot" (StackExchange.Redis
    /// reports no slot), one connection keeps command order, and one script may touch any keys.
    /// </summary>
    public bool IsSingleServer => _database.Multiplexer.HashSlot(_keys.Prefix) < 0;

    private static Task WhenAllAnswered(IEnumerable<Task> replies) => Task.WhenAll(replies);

    private static TValue GetOrAdd<TKey, TValue>(Dictionary<TKey, TValue> map, TKey key)
        where TKey : notnull
        where TValue : new()
    {
        if (!map.TryGetValue(key, out var value))
        {
            value = new TValue();
            map.Add(key, value);
        }

        return value;
    }
}
