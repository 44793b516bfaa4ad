using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace SpanBuffer.Benchmarks;

/// <summary>Counts the warnings and errors the buffer and the flushers log, by event and exception kind.</summary>
internal sealed class ChaosLog : ILoggerFactory, ILoggerProvider
{
    public ConcurrentDictionary<string, long> Events { get; } = new();

    /// <summary>A short, stable name for an exception: its type, and for a Redis error reply its error prefix (NOSCRIPT, LOADING...).</summary>
    public static string Describe(Exception exception)
    {
        var inner = exception is AggregateException { InnerExceptions.Count: 1 } aggregate ? aggregate.InnerExceptions[0] : exception;
        var name = inner.GetType().Name;
        if (inner is RedisServerException && inner.Message.Split(' ', 2) is [var prefix, ..])
        {
            return $"{name} {prefix}";
        }

        return inner.Message.StartsWith("chaos:", StringComparison.Ordinal) ? $"{name} (injected)" : name;
    }

    public ILogger CreateLogger(string categoryName) => new Counter(this, categoryName[(categoryName.LastIndexOf('.') + 1)..]);

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
    }

    private sealed class Counter(ChaosLog log, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
            {
                return;
            }

            var key = exception is null ? $"{category} {eventId.Name}" : $"{category} {eventId.Name}: {Describe(exception)}";
            ChaosTally.Add(log.Events, key);
        }
    }
}
