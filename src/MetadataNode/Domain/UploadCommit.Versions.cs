using Dropbox.MetadataNode.Storage;
using Dropbox.MetadataNode.Storage.Records;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;

namespace Dropbox.MetadataNode.Domain;

internal sealed partial class UploadCommit
{
    private T Mutate<T>(NamespaceState? ns, Func<RecordBatch, NamespaceRecord?, T> body, bool sync = false) =>
        _transactions.Mutate(ns, body, sync);

    private Task<T> MutateDurableAsync<T>(NamespaceState? ns, Func<RecordBatch, NamespaceRecord?, T> body, Func<T, bool>? durable = null) =>
        _transactions.MutateDurableAsync(ns, body, durable);

    private static bool IsLiveFile(PathEntry? entry) => NamespaceFiles.IsLiveFile(entry);

    private static bool IsLive(PathEntry? entry) => NamespaceFiles.IsLive(entry);

    private void ApplyVersion(RecordBatch batch, NamespaceRecord ns, PathEntry entry, long now) => _files.ApplyVersion(batch, ns, entry, now);

    private static ChangeEntry AppendChange(RecordBatch batch, NamespaceRecord ns, ChangeType kind, PathEntry entry, string oldPath = "") =>
        NamespaceFiles.AppendChange(batch, ns, kind, entry, oldPath);

    private static void EnsureNothingLiveUnder(RecordBatch batch, string ns, string path) => NamespaceFiles.EnsureNothingLiveUnder(batch, ns, path);

    private static void EnsureParentsAreNotFiles(RecordBatch batch, string ns, string path) => NamespaceFiles.EnsureParentsAreNotFiles(batch, ns, path);
}
