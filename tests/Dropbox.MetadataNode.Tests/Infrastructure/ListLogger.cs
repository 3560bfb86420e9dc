using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Dropbox.MetadataNode.Tests.Infrastructure;

/// <summary>Keeps every entry logged at warning level or above, with its event id, for a test to look at.</summary>
internal sealed class ListLogger : ILogger
{
    public ConcurrentQueue<(LogLevel Level, int EventId, string Message)> Entries { get; } = new();

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (IsEnabled(logLevel))
        {
            Entries.Enqueue((logLevel, eventId.Id, formatter(state, exception)));
        }
    }
}
