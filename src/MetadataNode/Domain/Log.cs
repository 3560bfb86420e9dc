using Microsoft.Extensions.Logging;

namespace Dropbox.MetadataNode.Domain;

/// <summary>Source-generated log messages with stable event ids (4000-4099: metadata node).</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 4000, Level = LogLevel.Information, Message = "Storage node {NodeId} registered at {GrpcUrl}")]
    public static partial void NodeRegistered(ILogger logger, string nodeId, string grpcUrl);

    [LoggerMessage(EventId = 4005, Level = LogLevel.Warning, Message = "Only {Nodes} storage node(s) can take new chunks (the others are full, draining or dead) but the replication factor is {Factor}: new uploads are stored with fewer copies; re-replication adds the missing ones once a node has space (see dropbox_chunks_under_replicated)")]
    public static partial void FewerPlacementNodesThanReplicas(ILogger logger, int nodes, int factor);

    [LoggerMessage(EventId = 4006, Level = LogLevel.Warning, Message = "A client asked to avoid storage node(s) {Avoided} (it found them full or slow) but only {Others} other node(s) can take new chunks and the replication factor is {Factor}: the avoided nodes still get the remaining copies, so uploads keep their copies but may retry")]
    public static partial void AvoidedNodesFillReplicas(ILogger logger, string avoided, int others, int factor);

    [LoggerMessage(EventId = 4001, Level = LogLevel.Warning, Message = "Storage node {NodeId} is unreachable")]
    public static partial void NodeUnreachable(ILogger logger, string nodeId, Exception exception);

    [LoggerMessage(EventId = 4002, Level = LogLevel.Information, Message = "Retention pruned {Versions} versions; garbage collection deleted {Chunks} chunks")]
    public static partial void GcPass(ILogger logger, int versions, int chunks);

    [LoggerMessage(EventId = 4012, Level = LogLevel.Information, Message = "Owed chunk deletions of {Nodes} storage node(s) back: {Chunks} chunks deleted, {Failed} still owed")]
    public static partial void OwedDeletionsFinished(ILogger logger, int nodes, int chunks, int failed);

    [LoggerMessage(EventId = 4003, Level = LogLevel.Error, Message = "Garbage collection pass failed")]
    public static partial void GcFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 4004, Level = LogLevel.Information, Message = "Metadata node listening on {Url}")]
    public static partial void Listening(ILogger logger, string url);

    [LoggerMessage(EventId = 4008, Level = LogLevel.Warning, Message = "Storage node {NodeId} forgotten: {Cleared} chunk record(s) dropped it; {Lost} referenced chunk(s) have no copy left")]
    public static partial void NodeForgotten(ILogger logger, string nodeId, long cleared, long lost);

    [LoggerMessage(EventId = 4007, Level = LogLevel.Information, Message = "Removed account {NamespaceId}: purged {Versions} version(s), {Files} file(s), {Changes} change(s), {Marks} chunk mark(s){Finished}")]
    public static partial void AccountPurged(ILogger logger, string namespaceId, int versions, int files, int changes, int marks, string finished);

    [LoggerMessage(EventId = 4009, Level = LogLevel.Warning, Message = "{Count} account(s) whose user was removed by an earlier release (which kept their data) are now marked removed: the background purge deletes their files, history and chunk references")]
    public static partial void OrphanAccountsMarkedRemoved(ILogger logger, int count);

    [LoggerMessage(EventId = 4010, Level = LogLevel.Error, Message = "Purge of removed accounts failed; it is retried at the next pass")]
    public static partial void PurgeFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 4011, Level = LogLevel.Warning, Message = "A heartbeat of storage node {NodeId} was heard but could not be stored; its next one is stored again")]
    public static partial void HeartbeatNotStored(ILogger logger, string nodeId, Exception exception);

    [LoggerMessage(EventId = 4090, Level = LogLevel.Warning, Message = "{Upgrade}")]
    public static partial void SchemaUpgraded(ILogger logger, string upgrade);
}
