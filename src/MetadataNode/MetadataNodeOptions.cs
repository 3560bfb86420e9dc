using System.Security.Cryptography.X509Certificates;
using Dropbox.Shared.Tls;

namespace Dropbox.MetadataNode;

/// <summary>Everything a metadata node needs to start. Immutable; derive variants with <c>with</c>.</summary>
public sealed record MetadataNodeOptions
{
    /// <summary>Directory of the RocksDB store (created if missing).</summary>
    public required string DataDirectory { get; init; }

    /// <summary>
    /// Where online backups go (<c>BACKUP/&lt;UTC stamp&gt;/</c>: the metadata checkpoint and the key ring); null: DATA/backups.
    /// On the data folder's file system the checkpoint hard-links RocksDB's files instead of copying them.
    /// </summary>
    public string? BackupDirectory { get; init; }

    /// <summary>
    /// Longest a storage node may take to answer an online backup's snapshot request (the cluster's deletions are held
    /// meanwhile), or <see cref="Timeout.InfiniteTimeSpan"/> (<c>--backup-node-timeout 0</c>): past it the node counts as
    /// failed and the backup as incomplete, and the node stops its copy. 6 hours by default: long, because the copy's
    /// length depends on the node (sealed segments are hard-linked on the data file system, instant, but a node whose
    /// backup folder is on another file system copies every byte it holds), yet finite, because a hung node (a stalled
    /// disk) would otherwise hold the cluster's deletions, and every later backup, forever. The wait for compaction or scrub is
    /// bounded apart (<see cref="BackupHoldTimeout"/>).
    /// </summary>
    public TimeSpan BackupNodeTimeout { get; init; } = DefaultBackupNodeTimeout;

    /// <summary>Default of <see cref="BackupNodeTimeout"/>: 6 hours.</summary>
    public static readonly TimeSpan DefaultBackupNodeTimeout = TimeSpan.FromHours(6);

    /// <summary>
    /// Longest a storage node waits for its segments to be free of compaction, a scrub pass or another snapshot before
    /// it gives up its snapshot (a failed node, nothing written): <c>--backup-hold-timeout</c>, default 2 minutes.
    /// </summary>
    public TimeSpan BackupHoldTimeout { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>The folder backups go to: <see cref="BackupDirectory"/> or DATA/backups.</summary>
    public string BackupFolder => Path.GetFullPath(BackupDirectory ?? Path.Combine(DataDirectory, "backups"));

    /// <summary>Directory of the DataProtection key ring shared with the storage nodes.</summary>
    public required string KeysDirectory { get; init; }

    /// <summary>
    /// URLs to listen on (HTTP/2), e.g. http://127.0.0.1:5080 or https://0.0.0.0:5080 (with
    /// <see cref="TlsCertificate"/>); port 0 picks a free port. Plaintext beyond loopback needs <see cref="InsecureHttp"/>.
    /// </summary>
    public IReadOnlyList<string> Urls { get; init; } = ["http://127.0.0.1:5080"];

    /// <summary>
    /// Optional HTTP/1.1 listen URL for probes (<c>/healthz</c>, <c>/readyz</c>): plaintext <see cref="Urls"/> speak only HTTP/2 (h2c), which load balancers, Kubernetes probes and plain curl do
    /// not. https <see cref="Urls"/> serve HTTP/1.1 too (ALPN), so this is needed only without TLS. Same rules as
    /// <see cref="Urls"/> (https needs the certificate, plaintext beyond loopback needs <see cref="InsecureHttp"/>).
    /// </summary>
    public string? HttpUrl { get; init; }

    /// <summary>
    /// HTTP/1.1 listen URL for operators: <c>/metrics</c> (answered nowhere else: node-wide numbers such as GC deletions
    /// would tell one account what another stores), <c>/healthz</c>, <c>/readyz</c>. Default: a free port on
    /// 127.0.0.1. Bind it where only the operator's scraper reaches, never where clients do.
    /// </summary>
    public string MetricsUrl { get; init; } = "http://127.0.0.1:0";

    /// <summary>Certificate (with private key) served on the https URLs; null serves none.</summary>
    public X509Certificate2? TlsCertificate { get; init; }

    /// <summary>Allows plaintext http URLs beyond loopback (say, behind a TLS-terminating proxy); off by default.</summary>
    public bool InsecureHttp { get; init; }

    /// <summary>Which certificates of storage nodes this node accepts when it calls them (https node URLs).</summary>
    public ServerTrust NodeTrust { get; init; } = ServerTrust.System;

    /// <summary>How many storage nodes each new chunk is placed on.</summary>
    public int ReplicationFactor { get; init; } = 1;

    /// <summary>Versions kept per path (the current one included).</summary>
    public int KeepVersions { get; init; } = 100;

    /// <summary>How long a superseded or deleted version is kept after it was superseded.</summary>
    public TimeSpan KeepAge { get; init; } = TimeSpan.FromDays(30);

    /// <summary>
    /// How long a chunk must stay unreferenced before it is deleted from its nodes. Must exceed any
    /// token's life plus the longest upload, so an upload in flight never loses its chunk.
    /// </summary>
    public TimeSpan GcGracePeriod { get; init; } = TimeSpan.FromHours(1);

    /// <summary>Records a removed user's purge deletes per transaction (each holds the write lock briefly).</summary>
    public int PurgeBatchSize { get; init; } = 512;

    /// <summary>Most purge transactions one collector pass runs (the rest continue in the next pass).</summary>
    public int PurgeBatchesPerPass { get; init; } = 256;

    /// <summary>
    /// How often removed users' accounts are purged (a pass of at most <see cref="PurgeBatchesPerPass"/> batches), on a
    /// timer of its own, so a store that runs without garbage collection still purges; each collector pass also purges
    /// first. Zero turns the purge's own timer off.
    /// </summary>
    public TimeSpan PurgeInterval { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>How often retention and garbage collection run; zero disables the background pass.</summary>
    public TimeSpan GcInterval { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Heartbeat interval told to storage nodes.</summary>
    public TimeSpan HeartbeatInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>A node whose last heartbeat is older than this gets no new chunks.</summary>
    public TimeSpan NodeTimeout { get; init; } = TimeSpan.FromSeconds(35);

    /// <summary>
    /// How long a commit waits for the storage node's "chunk stored" event naming this account's upload of
    /// a chunk (events travel asynchronously, so a commit right after a put may arrive first).
    /// </summary>
    public TimeSpan EventWait { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Life of the put and get tokens handed to clients.</summary>
    public TimeSpan TokenLifetime { get; init; } = TimeSpan.FromMinutes(15);

    /// <summary>
    /// When true (default) a change is acknowledged only after the write-ahead log is fsynced (group
    /// commit: one fsync covers every change that arrived meanwhile). When false a change survives a
    /// process crash but not a power loss.
    /// </summary>
    public bool SyncWrites { get; init; } = true;

    /// <summary>
    /// Bloom filters in the store's sorted tables (default true; <see cref="Storage.RocksEngine.Open(string, bool)"/>).
    /// False only for the benchmark that measures what they save.
    /// </summary>
    internal bool TableFilters { get; init; } = true;

    /// <summary>Clock for versions, retention and garbage collection (tests substitute a manual one).</summary>
    public TimeProvider Clock { get; init; } = TimeProvider.System;

    /// <summary>Chunk copies the metadata node has storage nodes make at once while it restores the replication factor.</summary>
    public int ReplicationConcurrency { get; init; } = 4;

    /// <summary>
    /// How often the replication pass looks for chunks held by fewer healthy nodes than <see cref="ReplicationFactor"/>
    /// (a node declared dead, a node draining); zero disables the background pass.
    /// </summary>
    public TimeSpan ReplicationInterval { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// <c>--node-dead-after</c>: a node silent this long is declared dead (no new chunks, its chunks re-replicated), and
    /// storage nodes are told to heartbeat often enough (a third of it, 1-10 s) that a live one is never mistaken.
    /// </summary>
    public MetadataNodeOptions WithNodeDeadAfter(TimeSpan deadAfter) => deadAfter.TotalSeconds < MinNodeDeadAfterSeconds
        ? throw new Dropbox.Shared.Errors.DropboxException(Dropbox.Shared.Errors.ErrorKind.InvalidArgument, NodeDeadAfterTooShort(deadAfter.TotalSeconds))
        : this with
    {
        NodeTimeout = deadAfter,
        HeartbeatInterval = TimeSpan.FromSeconds(Math.Clamp(Math.Floor(deadAfter.TotalSeconds / 3), 1, 10)),
    };

    /// <summary>
    /// Shortest <c>--node-dead-after</c>: storage nodes heartbeat every third of it (at least 1 s), so below this one late
    /// heartbeat (a GC pause, a busy disk) makes a live node flap to dead and back, each flap ordering extra copies.
    /// </summary>
    public const int MinNodeDeadAfterSeconds = 5;

    /// <summary>The error for a <c>--node-dead-after</c> below <see cref="MinNodeDeadAfterSeconds"/>.</summary>
    public static string NodeDeadAfterTooShort(double seconds) =>
        $"--node-dead-after must be at least {MinNodeDeadAfterSeconds} seconds (storage nodes heartbeat every third of it; shorter makes live nodes flap to dead); got {seconds}.";

    /// <summary>Put tokens one account may have outstanding; the default is <see cref="Domain.Limits.MaxPendingPutsPerUser"/>.</summary>
    public int MaxPendingPutsPerUser { get; init; } = Domain.Limits.MaxPendingPutsPerUser;
}
