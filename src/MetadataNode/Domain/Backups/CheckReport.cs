namespace Dropbox.MetadataNode.Domain.Backups;

/// <summary>What an online check found (empty: consistent), and how many referenced chunks it confirmed on live nodes (0 when not asked to).</summary>
internal sealed record CheckReport(IReadOnlyList<string> Problems, long ChunksVerified)
{
    /// <summary>Known losses that are not inconsistencies (chunks lost by <c>nodes forget --force</c>), one line per node.</summary>
    public IReadOnlyList<string> Notes { get; init; } = [];
}
