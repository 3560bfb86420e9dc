using System.Security.Cryptography.X509Certificates;
using Dropbox.Shared.Tls;
using Dropbox.StorageNode.Store;

namespace Dropbox.StorageNode;

/// <summary>How to run a storage node. Immutable; use <c>with</c> to vary a copy.</summary>
public sealed record StorageNodeOptions
{
    /// <summary>Data directory: segments, index, outbox, node id.</summary>
    public required string DataDirectory { get; init; }

    /// <summary>
    /// Where online backups put this node's snapshots (<c>BACKUP/&lt;stamp&gt;/&lt;name of the data folder&gt;</c>); null: DATA/backups.
    /// On the data folder's file system, sealed segments are hard-linked rather than copied.
    /// </summary>
    public string? BackupDirectory { get; init; }

    /// <summary>The folder backups go to: <see cref="BackupDirectory"/> or DATA/backups.</summary>
    public string BackupFolder => Path.GetFullPath(BackupDirectory ?? Path.Combine(DataDirectory, "backups"));

    /// <summary>Directory of the DataProtection key ring shared with the metadata node.</summary>
    public required string KeysDirectory { get; init; }

    /// <summary>
    /// gRPC (HTTP/2) listen URL, e.g. http://127.0.0.1:5081 (cleartext) or https://0.0.0.0:5081 (TLS with
    /// <see cref="TlsCertificate"/>); port 0 picks a free port.
    /// </summary>
    public string GrpcUrl { get; init; } = "http://127.0.0.1:5081";

    /// <summary>
    /// HTTP/1.1 listen URL for presigned links (http or https). Default: the gRPC scheme and host and port + 1 (or a
    /// free port if the gRPC port is 0).
    /// </summary>
    public string? HttpUrl { get; init; }

    /// <summary>
    /// HTTP/1.1 listen URL for operators: <c>/metrics</c> (answered nowhere else: its node-wide numbers would tell one
    /// account what another stores), <c>/healthz</c>, <c>/readyz</c>. Default: a free port on 127.0.0.1. Bind it
    /// where only the operator's scraper reaches, never where clients do.
    /// </summary>
    public string MetricsUrl { get; init; } = "http://127.0.0.1:0";

    /// <summary>Certificate (with private key) served on https listen URLs; null serves none.</summary>
    public X509Certificate2? TlsCertificate { get; init; }

    /// <summary>Allows plaintext http listen URLs beyond loopback (say, behind a TLS-terminating proxy); off by default.</summary>
    public bool InsecureHttp { get; init; }

    /// <summary>Which certificates of the metadata node this node accepts (an https <see cref="MetadataUrl"/>).</summary>
    public ServerTrust MetadataTrust { get; init; } = ServerTrust.System;

    /// <summary>
    /// gRPC URL announced to the metadata node (and so to clients) instead of the bound one: for a node behind
    /// NAT or in a container, where the bound address (0.0.0.0, a container port) is not what clients reach.
    /// </summary>
    public string? AdvertiseGrpcUrl { get; init; }

    /// <summary>Presigned-link base URL announced instead of the bound HTTP URL; see <see cref="AdvertiseGrpcUrl"/>.</summary>
    public string? AdvertiseHttpUrl { get; init; }

    /// <summary>The metadata node's gRPC URL; null runs without one (events wait in the outbox).</summary>
    public string? MetadataUrl { get; init; }

    /// <summary>This node's id; null reads DATA/node-id or generates and persists one.</summary>
    public string? NodeId { get; init; }

    /// <summary>Largest plain chunk accepted.</summary>
    public int MaxChunkBytes { get; init; } = StoreLimits.DefaultMaxChunkBytes;

    /// <summary>
    /// Free bytes the node keeps on its data disk: below this it refuses every put with RESOURCE_EXHAUSTED (and the
    /// metadata node places new chunks elsewhere) rather than fail writes halfway. Default 64 MiB.
    /// </summary>
    public long ReserveBytes { get; init; } = 64L * 1024 * 1024;

    /// <summary>
    /// Read large records and append segments with <c>O_DIRECT</c> where the file system allows it (the default; each
    /// falls back to buffered I/O by itself where it is refused, and says so in the log); false (<c>--direct-io off</c>)
    /// reads and writes every segment through the page cache: for a file system that takes <c>O_DIRECT</c> but is slow
    /// with it, or to rule direct I/O out while debugging.
    /// </summary>
    public bool DirectIo { get; init; } = true;

    /// <summary>Segment file size at which a new one is started.</summary>
    public long SegmentMaxBytes { get; init; } = 256L * 1024 * 1024;

    /// <summary>Background index checkpoint period.</summary>
    public TimeSpan CheckpointInterval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Background compaction period (zero disables).</summary>
    public TimeSpan CompactionInterval { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>Background scrub period: every stored chunk is re-hashed (zero disables; default weekly).</summary>
    public TimeSpan ScrubInterval { get; init; } = TimeSpan.FromDays(7);

    /// <summary>Longest wait between retries to reach the metadata node.</summary>
    public TimeSpan MaxRetryDelay { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>FASTER hash index size in bytes (smaller for tests).</summary>
    public long IndexSizeBytes { get; init; } = 1L << 24;

    /// <summary>FASTER in-memory log size in bytes (smaller for tests).</summary>
    public long IndexMemoryBytes { get; init; } = 1L << 27;
}
