using Microsoft.Extensions.Logging;

namespace Dropbox.StorageNode.Store;

/// <summary>Log messages of <see cref="BackupParts"/> as the node's start runs it.</summary>
internal static partial class BackupPartsLog
{
    [LoggerMessage(EventId = 2400, Level = LogLevel.Information, Message = "Removed {Count} unfinished backup part(s) (.partial) this node left when it stopped mid-snapshot: {Names}")]
    public static partial void StalePartialsRemoved(ILogger logger, int count, string names);
}
