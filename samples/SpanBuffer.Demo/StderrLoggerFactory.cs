using Microsoft.Extensions.Logging;

namespace SpanBuffer.Demo;

/// <summary>
/// Shows the library's warnings and errors (a failed flush cycle, backpressure, an unhealthy flusher) on stderr,
/// one line each, so a problem during the run is visible next to the progress lines.
/// </summary>
internal sealed class StderrLoggerFactory(TextWriter stderr, LogLevel minimum = LogLevel.Warning) : ILoggerFactory
{
    public ILogger CreateLogger(string categoryName) => new Logger(stderr, minimum, categoryName);

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
    }

    private sealed class Logger(TextWriter stderr, LogLevel minimum, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= minimum && logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
            {
                return;
            }

            var line = $"{logLevel.ToString().ToLowerInvariant()}: {category}: {formatter(state, exception)}";
            if (exception is not null)
            {
                line += $" ({exception.GetType().Name}: {exception.Message})";
            }

            stderr.WriteLine(line);
        }
    }
}
