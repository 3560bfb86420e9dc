using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Dropbox.MetadataNode.Storage;
using Dropbox.MetadataNode.Storage.Records;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.Shared.IO;
using Dropbox.Shared.Sync;
using Dropbox.Shared.Tokens;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Dropbox.MetadataNode.Domain;

/// <summary>
/// The metadata domain: users, namespaces, files, versions, chunks and the change log over RocksDB.
/// Every mutation is computed under one write lock and applied as one atomic write batch; reads go to
/// RocksDB directly. Calls to storage nodes (verification, deletes) happen outside the lock.
/// </summary>
internal sealed partial class MetadataStore : IDisposable
{
    private readonly RocksEngine _engine;
    private readonly StoreTransactions _transactions;
    private readonly Accounts _accounts;
    private readonly ConcurrentDictionary<string, NamespaceState> _namespaces = new(StringComparer.Ordinal);
    private readonly NodeRegistry _nodeRegistry;
    private readonly ChangeFeed _changes;
    private readonly ConsistencyCheck _check;
    private readonly GarbageCollector _gc;
    private readonly NodeForgetter _forgetter;
    private readonly DownloadPlanner _plans;
    private readonly NamespaceFiles _files;
    private readonly UploadCommit _uploads;
    private readonly UploadPlanner _planner;

    private readonly CancellationTokenSource _stopping = new();
    private readonly ChunkTokenService _tokens;
    private readonly IStorageNodeGateway _gateway;
    private readonly MetadataNodeOptions _options;
    private readonly TimeProvider _clock;
    private readonly ILogger _logger;

    private MetadataStore(RocksEngine engine, ChunkTokenService tokens, IStorageNodeGateway gateway, MetadataNodeOptions options, ILogger? logger)
    {
        _engine = engine;
        _tokens = tokens;
        _gateway = gateway;
        _options = options;
        _clock = options.Clock;
        _logger = logger ?? NullLogger.Instance;
        _transactions = new StoreTransactions(engine, options.SyncWrites);
        _accounts = new Accounts(engine, _transactions, _namespaces, _clock);
        _files = new NamespaceFiles(engine, _transactions, options);
        _changes = new ChangeFeed(engine, _stopping.Token);
        _check = new ConsistencyCheck(engine, _transactions);

        // A change is readable (and long polls wake) as soon as it is written, a moment before its WAL fsync. After an
        // unclean stop those last changes may be gone and their sequence numbers handed out again, so a cursor from
        // before must not be trusted: every account gets a new epoch and its clients list everything again.
        var marker = Path.Combine(options.DataDirectory, CleanShutdownMarker);
        var clean = File.Exists(marker);
        if (clean)
        {
            File.Delete(marker);
            DirectorySync.Flush(options.DataDirectory);
        }

        foreach (var (_, value) in engine.ScanAll(engine.Namespaces))
        {
            var record = NamespaceRecord.Parser.ParseFrom(value);
            _namespaces[record.NamespaceId] = new NamespaceState(record);
        }

        // A restored store (a backup's marker, see RestoredMarker) may be a copy of a cleanly stopped one: its clients'
        // cursors can be ahead of its head, so it always gets new epochs. It also forgets where its storage nodes
        // were: the originals may still run and hold chunks the original re-referenced since; until a node registers
        // with this store again, nothing (garbage collection's deletes included) is sent to it.
        var restoredMarker = Path.Combine(options.DataDirectory, RestoredMarker);
        var restored = File.Exists(restoredMarker);
        if ((!clean || restored) && !_namespaces.IsEmpty)
        {
            RenewEpochs(restored);
        }

        if (restored)
        {
            ForgetNodeAddresses();
            File.Delete(restoredMarker);
            DirectorySync.Flush(options.DataDirectory);
        }

        _accounts.EnsureAnAdmin();

        _nodeRegistry = new NodeRegistry(
            engine.ScanAll(engine.Nodes).Select(kv => StoredFormat.ReadNode(kv.Value)),
            engine.ScanPrefix(engine.Meta, Keys.ForgottenNodePrefix).Select(kv => StoredFormat.ReadForgottenNode(kv.Value)),
            _transactions,
            options,
            _logger);
        _forgetter = new NodeForgetter(engine, _transactions, _nodeRegistry, _namespaces, _options, _logger);
        _forgetter.ResumeUnfinished();
        _gc = new GarbageCollector(engine, _transactions, _nodeRegistry, gateway, options, _logger, new AccountPurger(engine, _transactions, _namespaces, options, _logger));
        _nodeRegistry.Returned += _gc.NoteReturned;
        _nodeRegistry.HeardLive += _gc.NoteHeard;
        _uploads = new UploadCommit(engine, _transactions, _namespaces, _nodeRegistry, _files, tokens, gateway, options, _logger);
        _planner = new UploadPlanner(engine, _transactions, _namespaces, _nodeRegistry, tokens, options);
        _plans = new DownloadPlanner(engine, _nodeRegistry, tokens, options);
    }

    /// <summary>File in the data directory that says the last stop was clean (written at dispose, removed at open).</summary>
    internal const string CleanShutdownMarker = "clean-shutdown";

    /// <summary>
    /// File in the data directory that says the store was restored from a backup (an online backup writes it into its
    /// metadata checkpoint; an offline restore creates it): on open, every account gets a new epoch and every storage
    /// node must register again before anything is sent to it. Removed once that is durable.
    /// </summary>
    internal const string RestoredMarker = "restored";

    /// <summary>Clears every registered node's addresses and heartbeat, durably: a node is used again once it registers.</summary>
    private void ForgetNodeAddresses()
    {
        using (var batch = new RecordBatch(_engine))
        {
            foreach (var (_, value) in _engine.ScanAll(_engine.Nodes))
            {
                var entry = StoredFormat.ReadNode(value);
                batch.PutNode(entry with { Node = entry.Node with { GrpcUrl = string.Empty, HttpUrl = string.Empty, LastHeartbeatUnixMs = 0 } });
            }

            batch.Commit();
        }

        _engine.SyncWal();
        _logger.LogWarning("This store was restored from a backup: every storage node must register with it again before it is used (garbage collection deletes nothing on a node until then)");
    }

    /// <summary>
    /// How far each new epoch moves an account's head forward. A restored store (or one that lost its last writes)
    /// would otherwise hand out again version numbers its clients have already recorded for other content; past the
    /// jump, every new version is above anything a client saw. 2^40 leaves room for millions of restores.
    /// </summary>
    internal const ulong EpochJump = 1UL << 40;

    /// <summary>
    /// New epochs for every account (their cursors reset), each head moved forward by <see cref="EpochJump"/> (the
    /// log records the jump), written durably before anything is served.
    /// </summary>
    private void RenewEpochs(bool restored = false)
    {
        using (var batch = new RecordBatch(_engine))
        {
            foreach (var state in _namespaces.Values)
            {
                var record = state.Record.Clone();
                record.Epoch = NewEpoch();
                record.Jumps.Add(record.Head);
                record.Head += EpochJump;
                batch.PutNamespace(record);
                state.Record = record;
            }

            batch.Commit();
        }

        _engine.SyncWal();
        _logger.LogWarning("{Why}: {Count} account(s) get a new change-log epoch, so their clients list everything once instead of trusting cursors that may point past lost changes", restored ? "This store was restored from a backup" : "The last stop was not clean", _namespaces.Count);
    }

    private static ulong NewEpoch() => Accounts.NewEpoch();

    private void MarkCleanShutdown()
    {
        try
        {
            var marker = Path.Combine(_options.DataDirectory, CleanShutdownMarker);
            using (var stream = new FileStream(marker, PrivateFile.CreateOptions()))
            {
                stream.Write("clean\n"u8);
                stream.Flush(flushToDisk: true);
            }

            DirectorySync.Flush(_options.DataDirectory);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _logger.LogWarning(e, "Could not record a clean shutdown; the next start will reset every client's cursor");
        }
    }

    /// <summary>Opens the store in <see cref="MetadataNodeOptions.DataDirectory"/>.</summary>
    public static MetadataStore Open(MetadataNodeOptions options, ChunkTokenService tokens, IStorageNodeGateway gateway, ILogger? logger = null)
    {
        if (options.GcGracePeriod <= options.TokenLifetime)
        {
            // A put token still valid after its chunk was collected would let an upload land on a deleted chunk.
            throw new DropboxException(ErrorKind.InvalidArgument, $"The garbage-collection grace period ({options.GcGracePeriod}) must be longer than the token lifetime ({options.TokenLifetime}).");
        }

        if (options.KeepVersions < 1 || options.ReplicationFactor < 1)
        {
            throw new DropboxException(ErrorKind.InvalidArgument, "KeepVersions and ReplicationFactor must be at least 1.");
        }

        var engine = RocksEngine.Open(options.DataDirectory, options.TableFilters);
        try
        {
            var upgrade = StoreSchema.Migrate(engine);
            if (upgrade is not null)
            {
                Log.SchemaUpgraded(logger ?? NullLogger.Instance, upgrade);
            }

            var orphans = StoreSchema.MarkOrphanedAccountsRemoved(engine);
            if (orphans > 0)
            {
                Log.OrphanAccountsMarkedRemoved(logger ?? NullLogger.Instance, orphans);
            }

            return new(engine, tokens, gateway, options, logger) { SchemaUpgrade = upgrade };
        }
        catch
        {
            engine.Dispose();
            throw;
        }
    }

    /// <summary>The engine, for consistency checks and tests.</summary>
    internal RocksEngine Engine => _engine;

    /// <summary>Tests: the transactions (their hooks).</summary>
    internal StoreTransactions Transactions => _transactions;

    /// <summary>Tests: the forget (its hooks).</summary>
    internal NodeForgetter Forgetter => _forgetter;

    /// <summary>Tests: the purge of removed accounts (its hooks).</summary>
    internal AccountPurger Purger => _gc.Purger;

    /// <summary>Tests: the upload commit (its hooks).</summary>
    internal UploadCommit Uploads => _uploads;

    /// <summary>What opening the store upgraded (StoreSchema), for the offline commands to print; null when nothing.</summary>
    internal string? SchemaUpgrade { get; private init; }

    private long NowMs => _clock.GetUtcNow().ToUnixTimeMilliseconds();

    // ---------------------------------------------------------------- accounts (forwarded to the component)

    /// <summary>Users, tokens, roles and quotas.</summary>
    public Accounts Accounts => _accounts;

    /// <inheritdoc cref="Domain.Accounts.AddUser"/>
    public (UserInfo User, string Token) AddUser(string name, bool admin = false, ulong quotaBytes = 0) => _accounts.AddUser(name, admin, quotaBytes);

    /// <inheritdoc cref="Domain.Accounts.Authenticate"/>
    public UserInfo Authenticate(string? token) => _accounts.Authenticate(token);

    /// <inheritdoc cref="Domain.Accounts.ListUsers"/>
    public IReadOnlyList<UserInfo> ListUsers() => _accounts.ListUsers();

    /// <inheritdoc cref="Domain.Accounts.ListUserDetails"/>
    public IReadOnlyList<UserDetails> ListUserDetails() => _accounts.ListUserDetails();

    /// <inheritdoc cref="Domain.Accounts.GetUserDetails"/>
    public UserDetails GetUserDetails(string name) => _accounts.GetUserDetails(name);

    /// <inheritdoc cref="Domain.Accounts.RemoveUser"/>
    public void RemoveUser(string name) => _accounts.RemoveUser(name);

    /// <inheritdoc cref="Domain.Accounts.RotateToken"/>
    public string RotateToken(string name) => _accounts.RotateToken(name);

    /// <inheritdoc cref="Domain.Accounts.SetQuotaAsync"/>
    public Task<UserDetails> SetQuotaAsync(string name, ulong quotaBytes) => _accounts.SetQuotaAsync(name, quotaBytes);

    private NamespaceState Namespace(UserInfo user) => _uploads.Namespace(user);

    /// <summary>The cursor at the namespace's head.</summary>
    private static string HeadCursor(NamespaceRecord record) => NamespaceFiles.HeadCursor(record);

    /// <inheritdoc cref="ChangeFeed.ListAsync"/>
    public Task<ChangePage> ListChangesAsync(UserInfo user, string? cursor, uint limit, uint waitSeconds, CancellationToken cancellationToken) =>
        _changes.ListAsync(Namespace(user), cursor, limit, waitSeconds, cancellationToken);

    /// <summary>Long polls held open now for namespace <paramref name="namespaceId"/> (tests wait on it).</summary>
    internal int LongPollsHeld(string namespaceId) => _namespaces.TryGetValue(namespaceId, out var ns) ? Volatile.Read(ref ns.LongPolls) : 0;

    /// <summary>The storage nodes (registration, heartbeats, liveness).</summary>
    public NodeRegistry Nodes => _nodeRegistry;

    /// <summary>Registered nodes whose heartbeat is fresh.</summary>
    internal List<StorageNodeInfo> LiveNodes() => _nodeRegistry.LiveNodes();

    /// <inheritdoc cref="UploadPlanner.PlanUpload"/>
    public UploadPlan PlanUpload(UserInfo user, FileUpload upload) => _planner.PlanUpload(user, upload);

    /// <inheritdoc cref="UploadPlanner.PlanChunks"/>
    public UploadPlan PlanChunks(UserInfo user, ChunkWindow window) => _planner.PlanChunks(user, window);

    /// <inheritdoc cref="UploadPlanner.PlanMany"/>
    public UploadPlan[] PlanMany(UserInfo user, IReadOnlyList<FileUpload> uploads) => _planner.PlanMany(user, uploads);

    /// <inheritdoc cref="UploadCommit.CommitAsync"/>
    public Task<Committed> CommitAsync(UserInfo user, FileUpload upload, CancellationToken cancellationToken) =>
        _uploads.CommitAsync(user, upload, cancellationToken);

    /// <inheritdoc cref="UploadCommit.CommitManyAsync"/>
    public Task<IReadOnlyList<CommitOutcome>> CommitManyAsync(UserInfo user, IReadOnlyList<FileUpload> uploads, CancellationToken cancellationToken) =>
        _uploads.CommitManyAsync(user, uploads, cancellationToken);

    /// <inheritdoc cref="UploadCommit.AdmitAsync"/>
    public ValueTask<WorkGate.Lease> AdmitAsync(UserInfo user, long chunks, CancellationToken cancellationToken) =>
        _uploads.AdmitAsync(user, chunks, cancellationToken);

    /// <inheritdoc cref="UploadCommit.ReportChunksStored"/>
    public void ReportChunksStored(string nodeId, IReadOnlyList<StoredChunkReport> chunks) => _uploads.ReportChunksStored(nodeId, chunks);

    /// <summary>Put tokens the account has outstanding (tests and metrics).</summary>
    internal int PendingPutCount(UserInfo user) => _uploads.PendingPutCount(user);

    /// <summary>Commits that waited for "stored" events (tests check which commits wait, without timing them).</summary>
    internal long EventWaits => _uploads.EventWaits;

    /// <summary>The nodes' HasChunks calls commits share (tests count them).</summary>
    internal NodePresenceBatcher Presence => _uploads.Presence;

    /// <inheritdoc cref="NamespaceFiles.ListFiles"/>
    public FileListing ListFiles(UserInfo user, string? prefix, bool includeDeleted, uint limit = 0, string? startAfter = null) =>
        _files.ListFiles(Namespace(user), prefix, includeDeleted, limit, startAfter);

    /// <inheritdoc cref="NamespaceFiles.ListVersions"/>
    public IReadOnlyList<PathEntry> ListVersions(UserInfo user, string? path) => _files.ListVersions(Namespace(user), path);

    /// <inheritdoc cref="NamespaceFiles.DamagedVersions"/>
    public IReadOnlySet<ulong> DamagedVersions(IReadOnlyList<PathEntry> versions) => _files.DamagedVersions(versions);

    /// <inheritdoc cref="NamespaceFiles.RestoreAsync"/>
    public Task<Committed> RestoreAsync(UserInfo user, string? path, ulong version, string? device, bool onlyIfDeleted = false) =>
        _files.RestoreAsync(Namespace(user), path, version, device, onlyIfDeleted);

    /// <inheritdoc cref="NamespaceFiles.DeleteAsync"/>
    public Task<ulong> DeleteAsync(UserInfo user, string? path, ulong baseVersion, string? device, bool onlyIfEmpty = false, PathKind? expectedKind = null) =>
        _files.DeleteAsync(Namespace(user), path, baseVersion, device, onlyIfEmpty, expectedKind);

    /// <inheritdoc cref="NamespaceFiles.MoveAsync"/>
    public Task<Committed> MoveAsync(UserInfo user, string? fromPath, string? toPath, ulong baseVersion, string? device) =>
        _files.MoveAsync(Namespace(user), fromPath, toPath, baseVersion, device);

    /// <inheritdoc cref="NamespaceFiles.CreateFolderAsync"/>
    public Task<Committed> CreateFolderAsync(UserInfo user, string? path, string? device) =>
        _files.CreateFolderAsync(Namespace(user), path, device);

    /// <summary>The user's account summary and current cursor.</summary>
    public AccountSummary GetAccount(UserInfo user)
    {
        var record = Namespace(user).Record;
        return new AccountSummary(user.Name, record.NamespaceId, record.FileCount, record.TotalBytes, HeadCursor(record));
    }

    /// <inheritdoc cref="DownloadPlanner.GetDownloadPlan"/>
    public DownloadPlan GetDownloadPlan(UserInfo user, string? path, ulong version, uint offset = 0, uint limit = 0) =>
        _plans.GetDownloadPlan(Namespace(user), path, version, offset, limit);

    /// <inheritdoc cref="DownloadPlanner.GetDownloadPlanAsync"/>
    public Task<DownloadPlan> GetDownloadPlanAsync(UserInfo user, string? path, ulong version, uint offset, uint limit, CancellationToken cancellationToken) =>
        _plans.GetDownloadPlanAsync(Namespace(user), path, version, offset, limit, cancellationToken);

    /// <inheritdoc cref="DownloadPlanner.GetDownloadPlansAsync"/>
    public Task<IReadOnlyList<DownloadPlan?>> GetDownloadPlansAsync(UserInfo user, IReadOnlyList<DownloadRequest> files, CancellationToken cancellationToken) =>
        _plans.GetDownloadPlansAsync(Namespace(user), files, cancellationToken);

    /// <inheritdoc cref="GarbageCollector.RunOnceAsync"/>
    public Task<GcResult> RunGcOnceAsync(CancellationToken cancellationToken) => _gc.RunOnceAsync(cancellationToken);

    /// <summary>Completes when a storage node came back: the collector then runs <see cref="FinishOwedDeletionsAsync"/>.</summary>
    public Task NodeReturns => _gc.Returns.Current;

    /// <inheritdoc cref="GarbageCollector.FinishOwedAsync"/>
    public Task<GcResult> FinishOwedDeletionsAsync(CancellationToken cancellationToken) => _gc.FinishOwedAsync(cancellationToken);

    /// <summary>One pass of the purge of removed accounts (<see cref="AccountPurger.RunOnce"/>); returns the versions deleted.</summary>
    public int PurgeRemovedAccounts() => _gc.Purger.RunOnce();

    /// <inheritdoc cref="ConsistencyCheck.Run"/>
    public IReadOnlyList<string> CheckConsistency() => _check.Run();

    /// <inheritdoc cref="ConsistencyCheck.RunWithNotes"/>
    public (IReadOnlyList<string> Problems, IReadOnlyList<string> Notes) CheckConsistencyWithNotes() => _check.RunWithNotes();

    /// <summary>True once the store is stopping (<see cref="ReleaseWaiters"/> or <see cref="Dispose"/>).</summary>
    internal bool IsStopping => _stopping.IsCancellationRequested;

    /// <summary>Answers every held long poll now (server shutting down); later polls do not wait.</summary>
    public void ReleaseWaiters() => _stopping.Cancel();

    public void Dispose()
    {
        // Before the gate: a scrape's under-replicated scan holds it and ends early once stopping, so a close that was
        // not preceded by ReleaseWaiters (a test, a failed start) does not wait for a whole scan of the chunk records.
        _stopping.Cancel();
        lock (_closeGate)
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0)
            {
                return;
            }
        }

        _transactions.Dispose();
        _engine.Dispose();
        MarkCleanShutdown();

        // _stopping is not disposed: a call racing the shutdown may still read its token.
    }
}
