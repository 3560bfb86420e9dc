namespace Dropbox.Hosting;

/// <summary>How a node writes its log lines to the console.</summary>
public enum LogFormat
{
    /// <summary>One human-readable line per message.</summary>
    Text,

    /// <summary>One JSON object per line (timestamp, level, category, event id, message, state), for log shippers.</summary>
    Json,
}
