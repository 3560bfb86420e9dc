namespace Dropbox.StorageNode.Engine.Durable;

/// <summary>What recovery of a log read from a delivered mark found (<see cref="EngineRecovery.RecoverMarkedLog"/>).</summary>
/// <typeparam name="T">The record.</typeparam>
internal sealed record MarkedLogRecovery<T>(RecordLog<T> Log, string LogPath, string MarkPath, long Mark, long Pending);
