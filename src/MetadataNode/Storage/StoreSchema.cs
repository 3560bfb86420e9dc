using System.Buffers.Binary;
using Dropbox.MetadataNode.Storage.Records;
using Dropbox.Shared.Errors;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
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

    private const int RecordsPerBatch = 10_000;

    /// <summary>Key of the schema version in the default column family.</summary>
    public static ReadOnlySpan<byte> VersionKey => "schema-version"u8;

    /// <summary>The folder's schema version: 0 for a folder from before versions were recorded.</summary>
    public static uint Read(RocksEngine engine) =>
        engine.Get(VersionKey, engine.Meta) is { Length: 4 } bytes ? BinaryPrimitives.ReadUInt32LittleEndian(bytes) : 0;

    /// <summary>
    /// Upgrades the folder to <see cref="Current"/> (a no-op when it is there already); returns the version it was at.
    /// Each step is idempotent and the version is written last, durably, so a crash mid-way reruns the step.
    /// </summary>
    public static uint Migrate(RocksEngine engine, ILogger logger)
    {
        var found = Read(engine);
        if (found == Current)
        {
            return found;
        }

        if (found > Current)
        {
            throw new DropboxException(ErrorKind.Unavailable, $"The metadata store in '{engine.Directory}' has schema version {found}, written by a newer release; this release knows up to {Current}. Run the newer release (downgrades are not supported).");
        }

        if (found == 0 && IsEmpty(engine))
        {
            WriteVersion(engine);
            return found;
        }

        var migrated = MigrateFilesFromV0(engine);
        WriteVersion(engine);
        logger.LogWarning("Upgraded the metadata store in {Directory} from schema version {From} to {To} ({Files} file records rewritten)", engine.Directory, found, Current, migrated);
        return found;
    }

    /// <summary>v0 to v1: each Files CF value embedded the wire FileEntry at field 1; it moves to StoredFile.entry.</summary>
    private static long MigrateFilesFromV0(RocksEngine engine)
    {
        long count = 0;
        var batch = new WriteBatch();
        try
        {
            foreach (var (key, value) in engine.ScanAll(engine.Files))
            {
                if (StoredFile.Parser.ParseFrom(value).Entry is not null)
                {
                    continue; // already migrated (a run that stopped before writing the version)
                }

                var legacy = LegacyFileRecordV0.Parser.ParseFrom(value);
                var upgraded = new StoredFile { Entry = legacy.Current ?? new StoredEntry(), VersionCount = legacy.VersionCount };
                batch.Put(key, upgraded.ToByteArray(), engine.Files);
                count++;
                if (batch.Count() >= RecordsPerBatch)
                {
                    engine.Write(batch, sync: true);
                    batch.Dispose();
                    batch = new WriteBatch();
                }
            }

            if (batch.Count() > 0)
            {
                engine.Write(batch, sync: true);
            }
        }
        finally
        {
            batch.Dispose();
        }

        return count;
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
