using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Storage.Records;

namespace Dropbox.MetadataNode.Storage;

/// <summary>A registered storage node as the registry keeps it; on disk a <c>NodeRecord</c> (<see cref="StoredFormat.WriteNode"/>).</summary>
/// <param name="Node">The node, as the domain sees it.</param>
/// <param name="Read">
/// The stored message the node was read from (null for a node registered since), with any fields a later release added:
/// writing the node back keeps them, so a rollback does not drop what the later release wrote (as <see cref="FileRecord.Read"/>).
/// A re-registration keeps them too, so a later release must take its own node fields as possibly stale after a rollback
/// (this release may have re-registered a wiped node under the same id meanwhile).
/// </param>
internal sealed record NodeEntry(StorageNodeInfo Node, NodeRecord? Read);
