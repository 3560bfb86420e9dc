using Dropbox.Shared.Errors;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace Dropbox.Hosting;

/// <summary>
/// A node's console logging: format (<c>--log-format text|json</c>) and level (<c>--log-level</c>). At information
/// level every HTTP request gets one line (method, path without the query, so no token, protocol, status, duration)
/// and every failed gRPC call one more with its status; the framework's own chatter stays at warning.
/// </summary>
public sealed record NodeLogging
{
    /// <summary>Text or JSON lines.</summary>
    public LogFormat Format { get; init; } = LogFormat.Text;

    /// <summary>The least severe level written.</summary>
    public LogLevel MinimumLevel { get; init; } = LogLevel.Information;

    /// <summary>Parses <c>--log-format</c>; InvalidArgument names the accepted values.</summary>
    public static LogFormat ParseFormat(string value) => value.ToLowerInvariant() switch
    {
        "text" => LogFormat.Text,
        "json" => LogFormat.Json,
        _ => throw new DropboxException(ErrorKind.InvalidArgument, $"--log-format takes 'text' or 'json'; got '{value}'."),
    };

    /// <summary>Parses <c>--log-level</c>; InvalidArgument names the accepted values.</summary>
    public static LogLevel ParseLevel(string value) => value.ToLowerInvariant() switch
    {
        "trace" => LogLevel.Trace,
        "debug" => LogLevel.Debug,
        "information" or "info" => LogLevel.Information,
        "warning" or "warn" => LogLevel.Warning,
        "error" => LogLevel.Error,
        "critical" => LogLevel.Critical,
        "none" => LogLevel.None,
        _ => throw new DropboxException(ErrorKind.InvalidArgument, $"--log-level takes trace, debug, information, warning, error, critical or none; got '{value}'."),
    };

    /// <summary>Replaces the builder's providers with one console provider in this format and level.</summary>
    public void Apply(ILoggingBuilder logging)
    {
        ArgumentNullException.ThrowIfNull(logging);
        logging.ClearProviders();
        if (Format == LogFormat.Json)
        {
            logging.AddJsonConsole(json =>
            {
                json.UseUtcTimestamp = true;
                json.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
                json.JsonWriterOptions = new System.Text.Json.JsonWriterOptions { Indented = false };
            });
        }
        else
        {
            logging.AddSimpleConsole(text =>
            {
                text.SingleLine = true;
                text.UseUtcTimestamp = true;
                text.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
                text.ColorBehavior = LoggerColorBehavior.Disabled;
            });
        }

        logging.SetMinimumLevel(MinimumLevel);

        // Kestrel, routing and hosting log per request at information; the request line below replaces them.
        logging.AddFilter("Microsoft", LogLevel.Warning);
        logging.AddFilter("Grpc", LogLevel.Warning);
    }
}
