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

    /// <summary>
    /// Errors grpc-dotnet logs when the client reset its stream before the node had read the request (the fuzz client
    /// does so when it abandons a call): the client's doing, not an unhandled failure of the node. Counted, not kept.
    /// A reset in the middle of a message is not logged at all (see ClientResetTests).
    /// </summary>
    public int ClientResets => _clientResets;

    private int _clientResets;

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    private static bool IsClientReset(Exception exception) =>
        exception is IOException { Message: "The client reset the request stream." };

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
                if (IsClientReset(exception))
                {
                    Interlocked.Increment(ref owner._clientResets);
                    return;
                }

                var text = $"[{owner._node}] {logLevel} {category} ({eventId.Id}): {formatter(state, exception)}\n{exception}";
                owner._failures.Enqueue(text.Length > 4000 ? text[..4000] + "..." : text);
            }
        }
    }
}
