namespace Dropbox.MetadataNode.Domain.Backups;

/// <summary>What an online check found (empty: consistent), and how many referenced chunks it confirmed on live nodes (0 when not asked to).</summary>
internal sealed record CheckReport(IReadOnlyList<string> Problems, long ChunksVerified);
