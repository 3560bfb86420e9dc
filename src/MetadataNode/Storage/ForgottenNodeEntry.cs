using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Storage.Records;

namespace Dropbox.MetadataNode.Storage;

/// <summary>A forgotten storage node as the registry keeps it; on disk a <c>ForgottenNodeRecord</c> (<see cref="StoredFormat.WriteForgottenNode"/>).</summary>
/// <param name="Node">The forgotten node, as the domain sees it.</param>
/// <param name="Read">The stored message it was read from (null for one forgotten since): writing it back keeps fields a later release added.</param>
internal sealed record ForgottenNodeEntry(ForgottenNodeInfo Node, ForgottenNodeRecord? Read);
