using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Dropbox.SecurityTests.Infrastructure;

/// <summary>
/// An <see cref="ILoggerProvider"/> for a node under attack: keeps every Error or Critical entry, so a test can fail
/// when hostile input made a node log an unhandled exception (a stack trace in the service log).
/// </summary>
internal sealed class NodeLogCapture(string node) : ILoggerProvider
{
    private readonly ConcurrentQueue<string> _failures = new();
    private readonly string _node = node;

    /// <summary>Error/Critical entries that carry an exception, oldest first.</summary>
    public IReadOnlyCollection<string> Failures => _failures;

    /// <summary>How many entries were kept (cheap check between fuzz batches).</summary>
    public int Count => _failures.Count;

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    /// <summary>Entries kept after the first <paramref name="skip"/>.</summary>
    public IEnumerable<string> Since(int skip) => _failures.Skip(skip);

    public void Dispose()
    {
    }

    private sealed class Logger(NodeLogCapture owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Error;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (logLevel >= LogLevel.Error && exception is not null)
            {
                var text = $"[{owner._node}] {logLevel} {category} ({eventId.Id}): {formatter(state, exception)}\n{exception}";
                owner._failures.Enqueue(text.Length > 4000 ? text[..4000] + "..." : text);
            }
        }
    }
}
