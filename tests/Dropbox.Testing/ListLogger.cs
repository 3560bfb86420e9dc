using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Dropbox.Testing;

/// <summary>
/// Keeps every entry logged at <paramref name="minimum"/> level or above (warning unless told), with its event id and
/// exception, for a test to look at.
/// </summary>
public sealed class ListLogger(LogLevel minimum = LogLevel.Warning) : ILogger
{
    public ConcurrentQueue<(LogLevel Level, int EventId, string Message, Exception? Exception)> Entries { get; } = new();

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= minimum;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        ArgumentNullException.ThrowIfNull(formatter);
        if (IsEnabled(logLevel))
        {
            Entries.Enqueue((logLevel, eventId.Id, formatter(state, exception), exception));
        }
    }
}
