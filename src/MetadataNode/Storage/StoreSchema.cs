using System.Buffers.Binary;
using Dropbox.MetadataNode.Storage.Records;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Google.Protobuf;
using RocksDbSharp;

namespace Dropbox.MetadataNode.Storage;

/// <summary>
/// The version of the stored schema (store_records.proto) and the migration that brings a folder written by an
/// earlier release up to it, run once at open before anything is read. A folder written by a newer release is refused.
/// </summary>
internal static class StoreSchema
{
    /// <summary>The schema this release writes.</summary>
    public const uint Current = 2;

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
    /// (see there), so the step only stamps the version.
    /// 1 to 2 moves each tombstone (a DELETED chunk nothing references and no node may hold) from the Chunks CF to its
    /// chunk-tombstone/ key in the default CF, where this release keeps them (<see cref="RecordBatch.IsTombstone"/>),
    /// and chunk records may carry unconfirmed_locations. A release of schema 1 refuses the folder afterwards (it
    /// would not see the tombstones: a held-up "stored" event would find no record and be trusted, and a commit would
    /// then reference bytes that are gone; nor would it collect unconfirmed locations).
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
        var moved = MoveTombstones(engine);
        WriteVersion(engine);
        return empty
            ? null
            : $"Upgraded the metadata store in {engine.Directory} from schema version {found} to {Current} ({moved} deleted-chunk tombstone(s) moved out of the chunks column family; releases of schema version 1 or older cannot open the folder any more).";
    }

    /// <summary>Step 1 to 2 (idempotent): moves tombstones out of the Chunks CF, in batches; returns how many.</summary>
    private static long MoveTombstones(RocksEngine engine)
    {
        long moved = 0;
        var pending = new List<(byte[] Key, ChunkRecord Record)>();
        foreach (var (key, value) in engine.ScanAll(engine.Chunks))
        {
            var record = ChunkRecord.Parser.ParseFrom(value);
            if (key.Length == ChunkId.Size && RecordBatch.IsTombstone(record))
            {
                pending.Add((key, record));
                if (pending.Count >= 4096)
                {
                    moved += Flush(engine, pending);
                }
            }
        }

        return moved + Flush(engine, pending);
    }

    private static int Flush(RocksEngine engine, List<(byte[] Key, ChunkRecord Record)> pending)
    {
        var count = pending.Count;
        if (count > 0)
        {
            using var batch = new WriteBatch();
            foreach (var (key, record) in pending)
            {
                batch.Delete(key, engine.Chunks);
                batch.Put(Keys.ChunkTombstone(new ChunkId(key)), record.ToByteArray(), engine.Meta);
            }

            engine.Write(batch, sync: true);
            pending.Clear();
        }

        return count;
    }

    /// <summary>
    /// Marks every namespace whose user no longer exists as removed (idempotent; returns how many it marked). Releases
    /// before the purge of removed accounts deleted only the user's records and kept the account's data; run at every
    /// open (a scan of the users and namespaces only, no schema version change, so an older release can still open the
    /// folder, and a user it removes is picked up at this release's next open), so the purge deletes that data too.
    /// </summary>
    public static int MarkOrphanedAccountsRemoved(RocksEngine engine)
    {
        var owned = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (_, value) in engine.ScanPrefix(engine.Users, Keys.UserByNamePrefix))
        {
            owned.Add(UserRecord.Parser.ParseFrom(value).NamespaceId);
        }

        using var batch = new WriteBatch();
        var marked = 0;
        foreach (var (key, value) in engine.ScanAll(engine.Namespaces))
        {
            var record = NamespaceRecord.Parser.ParseFrom(value);
            if (!record.Removed && !owned.Contains(record.NamespaceId))
            {
                record.Removed = true;
                batch.Put(key, record.ToByteArray(), engine.Namespaces);
                marked++;
            }
        }

        if (marked > 0)
        {
            engine.Write(batch, sync: true);
        }

        return marked;
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
