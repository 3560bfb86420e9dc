using Microsoft.Extensions.Logging;

namespace Dropbox.MetadataNode.Tests.Infrastructure;

/// <summary>A logger whose every write throws, as a broken log sink would: code must not leave work undone when logging fails.</summary>
internal sealed class ThrowingLogger : ILogger
{
    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        throw new InvalidOperationException("the log sink failed");
}
