using System.Buffers.Binary;
using Dropbox.Shared.Errors;
using RocksDbSharp;

namespace Dropbox.MetadataNode.Storage;

/// <summary>
/// The version of the stored schema (store_records.proto) and the migration that brings a folder written by an
/// earlier release up to it, run once at open before anything is read. A folder written by a newer release is refused.
/// </summary>
internal static class StoreSchema
{
    /// <summary>The schema this release writes.</summary>
    public const uint Current = 1;

    /// <summary>Key of the schema version in the default column family.</summary>
    public static ReadOnlySpan<byte> VersionKey => "schema-version"u8;

    /// <summary>The folder's schema version: 0 for a folder from before versions were recorded.</summary>
    public static uint Read(RocksEngine engine) =>
        engine.Get(VersionKey, engine.Meta) is { Length: 4 } bytes ? BinaryPrimitives.ReadUInt32LittleEndian(bytes) : 0;

    /// <summary>
    /// Upgrades the folder to <see cref="Current"/> (a no-op when it is there already) and returns what it did, for the
    /// caller to log or print: null when nothing changed or the folder was empty (a new store). Each step is
    /// idempotent and the version is written last, durably, so a crash mid-way reruns the step.
    /// </summary>
    /// <remarks>
    /// 0 to 1 rewrites nothing: the records of the first release are already laid out as store_records.proto says
    /// (see there), so the step only stamps the version, and the first release can still open the folder afterwards.
    /// </remarks>
    public static string? Migrate(RocksEngine engine)
    {
        var found = Read(engine);
        if (found == Current)
        {
            return null;
        }

        if (found > Current)
        {
            throw new DropboxException(ErrorKind.Unavailable, $"The metadata store in '{engine.Directory}' has schema version {found}, written by a newer release; this release knows up to {Current}. Run the newer release (downgrades are not supported).");
        }

        var empty = found == 0 && IsEmpty(engine);
        WriteVersion(engine);
        return empty
            ? null
            : $"Upgraded the metadata store in {engine.Directory} from schema version {found} to {Current} (the version was stamped; no record was rewritten, so the previous release still reads the folder).";
    }

    private static bool IsEmpty(RocksEngine engine) =>
        !engine.ScanAll(engine.Users).Any() && !engine.ScanAll(engine.Namespaces).Any() && !engine.ScanAll(engine.Files).Any() && !engine.ScanAll(engine.Nodes).Any();

    private static void WriteVersion(RocksEngine engine)
    {
        var value = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(value, Current);
        using var batch = new WriteBatch();
        batch.Put(VersionKey, value, engine.Meta);
        engine.Write(batch, sync: true);
    }
}
