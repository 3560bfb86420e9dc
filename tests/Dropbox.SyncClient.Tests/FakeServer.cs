using System.Globalization;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Compression;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.SyncClient.Remote;
using Google.Protobuf;
using Grpc.Core;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// In-memory stand-in for the metadata node and a storage node (different components), following the wire
/// contract's semantics: versions are namespace sequence numbers, base 0 = "does not exist", stale base →
/// Conflict with "current-version", commit with unstored chunks → NotFound with "missing-chunks".
/// </summary>
internal sealed class FakeServer : IMetadataRemote, IChunkTransfer
{
    public const string NodeUrl = "http://fake-node";

    /// <summary>A second node, where plans place chunks when they ask to avoid the first ("n1").</summary>
    public const string SecondNodeUrl = "http://fake-node-2";

    /// <summary>When set, the first node refuses every put as full (RESOURCE_EXHAUSTED).</summary>
    public bool FirstNodeFull { get; set; }

    /// <summary>The avoid_nodes of every PlanUpload, in order.</summary>
    public List<string> AvoidNodesSeen { get; } = [];
    private readonly Lock _lock = new();
    private readonly Dictionary<string, List<FileEntry>> _history = new(StringComparer.Ordinal);
    private readonly List<Change> _changes = [];
    private readonly Dictionary<ChunkId, (ChunkEncoding Encoding, byte[] Stored, int Plain)> _chunks = [];
    private ulong _seq;
    private int _putsByUrlOnly;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public int ChunksPut { get; private set; }

    public int ChunksServed { get; private set; }

    public int Moves { get; private set; }

    public int ListFilesCalls { get; private set; }

    /// <summary>When set, PutChunks fails after this many chunks (simulating a crash mid-upload).</summary>
    public int? FailPutsAfter { get; set; }

    /// <summary>Flips one stored byte of every chunk (bit rot at rest); returns how many chunks were damaged.</summary>
    public int CorruptAllChunks()
    {
        lock (_lock)
        {
            foreach (var (_, c) in _chunks)
            {
                if (c.Stored.Length > 0)
                {
                    c.Stored[c.Stored.Length / 2] ^= 0x5A;
                }
            }

            return _chunks.Count;
        }
    }

    public FileEntry? Current(string path)
    {
        lock (_lock)
        {
            return _history.TryGetValue(path, out var h) && h.Count > 0 && !h[^1].Deleted ? h[^1] : null;
        }
    }

    /// <summary>The paths live on the server now, each as <c>path(size)</c>, in ordinal order (for a test's failure message).</summary>
    public List<string> LivePaths()
    {
        lock (_lock)
        {
            return [.. _history.Where(h => h.Value.Count > 0 && !h.Value[^1].Deleted).Select(h => h.Key + "(" + h.Value[^1].Size + ")").Order(StringComparer.Ordinal)];
        }
    }

    /// <summary>Every version committed at <paramref name="path"/>, oldest first.</summary>
    public List<FileEntry> History(string path)
    {
        lock (_lock)
        {
            return _history.TryGetValue(path, out var h) ? [.. h] : [];
        }
    }

    private ulong CurrentVersion(string path) => Current(path)?.Version ?? 0;

    /// <summary>PlanChunks calls answered (windows of files uploaded as they are read).</summary>
    public int PlannedWindows { get; private set; }

    /// <summary><see cref="PlannedWindows"/> when the first chunk put arrived (-1: none yet).</summary>
    public int PlannedWindowsAtFirstPut { get; private set; } = -1;

    /// <summary>Called with the path at the start of every PlanUpload and PlanChunks (a test's chance to touch the file meanwhile).</summary>
    public Action<string>? BeforePlanUpload { get; set; }

    /// <summary>As the metadata node's Limits.MaxPutsPerPlan: a one-file plan with more missing chunks is refused (null: no limit).</summary>
    public int? MaxPutsPerPlan { get; set; }

    public Task<PlanUploadResponse> PlanUploadAsync(PlanUploadRequest request, CancellationToken ct)
    {
        Interlocked.Increment(ref _planUploadCalls);
        BeforePlanUpload?.Invoke(request.Path);
        if (MaxPutsPerPlan is { } maxPuts)
        {
            lock (_lock)
            {
                var missing = request.Chunks.Select(c => c.Id.ToChunkId()).Where(id => !_chunks.ContainsKey(id)).Distinct().Count();
                if (missing > maxPuts)
                {
                    throw new DropboxException(ErrorKind.ResourceExhausted, $"The upload plan of '{request.Path}' would carry {missing} puts, more than one answer may (MaxPutsPerPlan = {maxPuts}); nothing was planned. Plan the file by windows with PlanChunks.");
                }
            }
        }

        lock (_lock)
        {
            AvoidNodesSeen.Add(string.Join(",", request.AvoidNodes));
            // As the metadata node: a stale base is no conflict when the file already has this content.
            var response = new PlanUploadResponse { CurrentVersion = CurrentVersion(request.Path), Conflict = request.BaseVersion != CurrentVersion(request.Path) && !SameContent(Current(request.Path), request.Size, request.Chunks) };
            foreach (var c in request.Chunks)
            {
                var id = c.Id.ToChunkId();
                if (!_chunks.ContainsKey(id) && response.Missing.All(m => m.ChunkId != c.Id))
                {
                    response.Missing.Add(new ChunkPut { ChunkId = c.Id, Node = request.AvoidNodes.Contains("n1") ? new ChunkLocation { NodeId = "n2", GrpcUrl = SecondNodeUrl, HttpUrl = SecondNodeUrl } : new ChunkLocation { NodeId = "n1", GrpcUrl = NodeUrl, HttpUrl = NodeUrl }, Token = "put:" + id });
                }
            }

            return Task.FromResult(response);
        }
    }

    /// <summary>As an older metadata node: PlanChunks answers UNIMPLEMENTED.</summary>
    public bool WithoutPlanChunks { get; set; }

    public Task<PlanUploadResponse> PlanChunksAsync(PlanChunksRequest request, CancellationToken ct)
    {
        if (WithoutPlanChunks)
        {
            throw new DropboxException(ErrorKind.Internal, "PlanChunks: unimplemented", new RpcException(new Status(StatusCode.Unimplemented, "Method is unimplemented.")));
        }

        BeforePlanUpload?.Invoke(request.Path);
        lock (_lock)
        {
            PlannedWindows++;
            var current = CurrentVersion(request.Path);
            var response = new PlanUploadResponse { CurrentVersion = current, Conflict = request.BaseVersion != current && Current(request.Path) is { } live && live.Size != request.Size };
            foreach (var c in request.Chunks)
            {
                var id = c.Id.ToChunkId();
                if (!_chunks.ContainsKey(id) && response.Missing.All(m => m.ChunkId != c.Id))
                {
                    response.Missing.Add(new ChunkPut { ChunkId = c.Id, Node = new ChunkLocation { NodeId = "n1", GrpcUrl = NodeUrl, HttpUrl = NodeUrl }, Token = "put:" + id });
                }
            }

            return Task.FromResult(response);
        }
    }

    public Task<CommitFileResponse> CommitFileAsync(CommitFileRequest request, CancellationToken ct)
    {
        lock (_lock)
        {
            // As the metadata node: a file never replaces a folder, and an identical commit (a retry after a lost
            // answer) changes nothing, whatever base it names.
            if (Current(request.Path) is { } current)
            {
                if (current.Kind == EntryKind.Folder)
                {
                    throw new DropboxException(ErrorKind.AlreadyExists, $"'{request.Path}' is a folder");
                }

                if (SameContent(current, request.Size, request.Chunks) && current.Executable == request.Executable)
                {
                    return Task.FromResult(new CommitFileResponse { Entry = current, Sequence = current.Version });
                }
            }

            CheckBase(request.Path, request.BaseVersion, allowAny: false);
            EnsureParentsAreNotFiles(request.Path);
            var missing = request.Chunks.Select(c => c.Id.ToChunkId()).Where(id => !_chunks.ContainsKey(id)).ToList();
            if (missing.Count > 0)
            {
                throw new DropboxException(ErrorKind.NotFound, "chunks not stored").WithDetail(RemoteErrors.MissingChunks, string.Join(',', missing));
            }

            var entry = new FileEntry
            {
                Path = request.Path, Version = ++_seq, Size = request.Size, MtimeUnixMs = request.MtimeUnixMs, ModifiedBy = request.Device, Executable = request.Executable,
                ContentHash = ByteString.CopyFrom(FileVersion.ComputeContentHash(request.Chunks.Select(c => c.Id.ToChunkId()))),
            };
            entry.Chunks.AddRange(request.Chunks);
            Append(entry, ChangeKind.Upsert, null);
            if (AfterCommitFile?.Invoke(request) is { } lostAnswer)
            {
                throw lostAnswer; // landed, but the client never hears it (a deadline, a dropped connection)
            }

            return Task.FromResult(new CommitFileResponse { Entry = entry, Sequence = entry.Version });
        }
    }

    /// <summary>Asked after each one-file commit landed: an exception returned is thrown instead of the answer.</summary>
    public Func<CommitFileRequest, Exception?>? AfterCommitFile { get; set; }

    private int _commitFilesCalls;

    public int CommitFilesCalls => _commitFilesCalls;

    /// <summary>When set, every CommitFiles call fails with this error (the whole call, as a lost connection would).</summary>
    public ErrorKind? FailCommitFiles { get; set; }

    /// <summary>Awaited at the start of every CommitFiles call with the call's number from 1 (a test's chance to hold a group there).</summary>
    public Func<CommitFilesRequest, int, Task>? BeforeCommitFiles { get; set; }

    public async Task<CommitFilesResponse> CommitFilesAsync(CommitFilesRequest request, CancellationToken ct)
    {
        var call = Interlocked.Increment(ref _commitFilesCalls);
        if (BeforeCommitFiles is { } before)
        {
            await before(request, call);
        }

        if (FailCommitFiles is { } kind)
        {
            throw new DropboxException(kind, "CommitFiles failed (the fake server was told to)");
        }

        var response = new CommitFilesResponse();
        foreach (var file in request.Files)
        {
            try
            {
                response.Results.Add(new CommitFileResult { Committed = await CommitFileAsync(file, ct) });
            }
            catch (DropboxException e)
            {
                // As the metadata node: a conflict names the current version, a refusal for missing chunks names them.
                var result = new CommitFileResult { StatusCode = (int)GrpcErrorMapping.ToStatusCode(e.Kind), ErrorMessage = e.Message };
                if (e.Details.TryGetValue(RemoteErrors.CurrentVersion, out var current))
                {
                    result.CurrentVersion = ulong.Parse(current, CultureInfo.InvariantCulture);
                }

                if (e.Details.TryGetValue(RemoteErrors.MissingChunks, out var missing))
                {
                    result.MissingChunkIds.AddRange(missing.Split(',').Select(id => ChunkId.Parse(id).ToByteString()));
                }

                response.Results.Add(result);
            }
        }

        return response;
    }

    private int _planUploadCalls;
    private int _batchedPlans;

    private int _planUploadsCalls;

    public int PlanUploadsCalls => _planUploadsCalls;

    /// <summary>PlanUpload calls made for one file alone (not as part of a <see cref="PlanUploadsAsync"/> call).</summary>
    public int SingleFilePlans => _planUploadCalls - _batchedPlans;

    /// <summary>Awaited at the start of every PlanUploads call (a test's chance to hold or fail a whole group there).</summary>
    public Func<PlanUploadsRequest, CancellationToken, Task>? BeforePlanUploads { get; set; }

    public async Task<PlanUploadsResponse> PlanUploadsAsync(PlanUploadsRequest request, CancellationToken ct)
    {
        Interlocked.Increment(ref _planUploadsCalls);
        if (BeforePlanUploads is { } before)
        {
            await before(request, ct).ConfigureAwait(false);
        }

        var response = new PlanUploadsResponse();
        foreach (var file in request.Files)
        {
            Interlocked.Increment(ref _batchedPlans);
            response.Results.Add(await PlanUploadAsync(file, ct));
        }

        return response;
    }

    /// <summary>When set, a paged plan request (limit &gt; 0) gets compact pages of at most this many chunks (fewer than it asked for).</summary>
    public uint? PlanPageSize { get; set; }

    public int PlanPagesServed { get; private set; }

    /// <summary>When set, rewrites every answer to GetDownloadPlans (a hostile or buggy server).</summary>
    public Action<GetDownloadPlansResponse>? TamperPlans { get; set; }

    /// <summary>Paths whose current version is damaged: their plans are refused with DataLoss, and so is any batch naming one (as the metadata node).</summary>
    public HashSet<string> DamagedPaths { get; } = new(StringComparer.Ordinal);

    /// <summary>Calls to GetDownloadPlans (batched) and GetDownloadPlan (one file) so far.</summary>
    public int BatchPlanCalls { get; private set; }

    /// <inheritdoc cref="BatchPlanCalls"/>
    public int SinglePlanCalls { get; private set; }

    public async Task<GetDownloadPlansResponse> GetDownloadPlansAsync(GetDownloadPlansRequest request, CancellationToken ct)
    {
        lock (_lock)
        {
            BatchPlanCalls++;
        }

        var response = new GetDownloadPlansResponse();
        foreach (var file in request.Files)
        {
            try
            {
                response.Plans.Add(await PlanAsync(file).ConfigureAwait(false));
            }
            catch (DropboxException e) when (e.Kind == ErrorKind.NotFound)
            {
                response.Plans.Add(new GetDownloadPlanResponse());
            }
        }

        TamperPlans?.Invoke(response);
        return response;
    }

    public Task<GetDownloadPlanResponse> GetDownloadPlanAsync(GetDownloadPlanRequest request, CancellationToken ct)
    {
        lock (_lock)
        {
            SinglePlanCalls++;
        }

        return PlanAsync(request);
    }

    private Task<GetDownloadPlanResponse> PlanAsync(GetDownloadPlanRequest request)
    {
        lock (_lock)
        {
            if (DamagedPaths.Contains(request.Path))
            {
                throw new DropboxException(ErrorKind.DataLoss, $"This version of '{request.Path}' is damaged: a chunk has no intact copy left.");
            }

            var entry = request.Version == 0
                ? Current(request.Path)
                : _history.GetValueOrDefault(request.Path)?.FirstOrDefault(e => e.Version == request.Version);
            if (entry is null || entry.Deleted)
            {
                throw new DropboxException(ErrorKind.NotFound, $"'{request.Path}' does not exist");
            }

            // As the metadata node: a request with a limit gets a compact page (PlanPageSize, a test's, can only make
            // pages smaller).
            if (request.Limit > 0)
            {
                PlanPagesServed++;
                var size = Math.Min(PlanPageSize ?? uint.MaxValue, request.Limit);
                var count = (int)Math.Min(size, (uint)Math.Max(0, entry.Chunks.Count - (int)request.Offset));
                var page = new GetDownloadPlanResponse { Entry = entry.Clone(), TotalChunks = (uint)entry.Chunks.Count, HasMore = request.Offset + count < entry.Chunks.Count };
                page.Entry.Chunks.Clear();
                page.Nodes.Add(new ChunkLocation { NodeId = "n1", GrpcUrl = NodeUrl, HttpUrl = NodeUrl });
                foreach (var c in entry.Chunks.Skip((int)request.Offset).Take(count))
                {
                    page.Tokens.Add("get:" + c.Id.ToChunkId());
                    page.Chunks.Add(new ChunkGet { Chunk = c, NodeIndexes = { 0 }, TokenIndexes = { (uint)page.Tokens.Count - 1 } });
                }

                return Task.FromResult(page);
            }

            var response = new GetDownloadPlanResponse { Entry = entry };
            foreach (var c in entry.Chunks)
            {
                var get = new ChunkGet { Chunk = c };
                get.Nodes.Add(new ChunkLocation { NodeId = "n1", GrpcUrl = NodeUrl, HttpUrl = NodeUrl });
                get.Tokens.Add("get:" + c.Id.ToChunkId());
                response.Chunks.Add(get);
            }

            return Task.FromResult(response);
        }
    }

    /// <summary>Most changes per feed page (0: all in one page).</summary>
    public int ChangesPageLimit { get; set; }

    /// <summary>When above zero, that many of the passes' change-feed reads (not the long poll's) fail as unavailable.</summary>
    public int FailPassListings { get; set; }

    public async Task<ListChangesResponse> ListChangesAsync(ListChangesRequest request, CancellationToken ct)
    {
        // As the metadata node: a long poll (wait_seconds) with nothing after the cursor is held until a change comes
        // or the wait ends.
        using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(request.WaitSeconds));
        using var either = CancellationTokenSource.CreateLinkedTokenSource(ct, wait.Token);
        while (true)
        {
            Task changed;
            lock (_lock)
            {
                if (ListChangesFault?.Invoke(request) is { } fault)
                {
                    throw fault;
                }

                if (request.WaitSeconds == 0 && FailPassListings > 0)
                {
                    FailPassListings--;
                    throw new DropboxException(ErrorKind.Unavailable, "the fake server is down for this request");
                }

                var response = ListChangesLocked(request);
                if (response.Changes.Count > 0 || request.WaitSeconds == 0 || wait.IsCancellationRequested)
                {
                    return response;
                }

                changed = _changed.Task;
            }

            try
            {
                await changed.WaitAsync(either.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                // The wait ended: answer with what there is (nothing).
            }
        }
    }

    private ListChangesResponse ListChangesLocked(ListChangesRequest request)
    {
        var after = string.IsNullOrEmpty(request.Cursor) ? 0 : ulong.Parse(request.Cursor, CultureInfo.InvariantCulture);
        var response = new ListChangesResponse();
        response.Changes.AddRange(_changes.Where(c => c.Sequence > after));
        response.Cursor = _seq.ToString(CultureInfo.InvariantCulture);

        // As the metadata node: the request's limit holds (ChangesPageLimit, a test's, can only make pages smaller).
        var limit = new[] { (int)request.Limit, ChangesPageLimit }.Where(l => l > 0).DefaultIfEmpty(0).Min();
        if (limit > 0 && response.Changes.Count > limit)
        {
            var page = response.Changes.Take(limit).ToList();
            response.Changes.Clear();
            response.Changes.AddRange(page);
            response.Cursor = page[^1].Sequence.ToString(CultureInfo.InvariantCulture);
            response.HasMore = true;
        }

        return response;
    }

    /// <summary>When set, each change listing (a pass's or a long poll) throws what it returns, if anything.</summary>
    public Func<ListChangesRequest, Exception?>? ListChangesFault { get; set; }

    /// <summary>When above zero, that many full listings (ListFiles) fail as unavailable.</summary>
    public int FailFullListings { get; set; }

    /// <summary>When set, runs at the start of each full listing's page request (a test's chance to act while a pass lists).</summary>
    public Action? BeforeListFiles { get; set; }

    public Task<ListFilesResponse> ListFilesAsync(ListFilesRequest request, CancellationToken ct)
    {
        BeforeListFiles?.Invoke();
        lock (_lock)
        {
            if (FailFullListings > 0)
            {
                FailFullListings--;
                throw new DropboxException(ErrorKind.Unavailable, "the fake server is down for this request");
            }

            ListFilesCalls++;
            var response = new ListFilesResponse { Cursor = _seq.ToString(CultureInfo.InvariantCulture) };
            foreach (var (path, h) in _history.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                if (h.Count > 0 && (request.IncludeDeleted || !h[^1].Deleted) && path.StartsWith(request.Prefix, StringComparison.Ordinal)
                    && string.CompareOrdinal(path, request.StartAfter) > 0)
                {
                    if (request.Limit > 0 && response.Entries.Count == request.Limit)
                    {
                        response.HasMore = true;
                        break;
                    }

                    response.Entries.Add(h[^1]);
                }
            }

            return Task.FromResult(response);
        }
    }

    /// <summary>Changes each ListVersions answer before it is sent (a server restored from an older backup, say).</summary>
    public Action<ListVersionsResponse>? TamperVersions { get; set; }

    public Task<ListVersionsResponse> ListVersionsAsync(ListVersionsRequest request, CancellationToken ct)
    {
        lock (_lock)
        {
            var response = new ListVersionsResponse();
            response.Versions.AddRange(Enumerable.Reverse(_history.GetValueOrDefault(request.Path) ?? []));
            TamperVersions?.Invoke(response);
            return Task.FromResult(response);
        }
    }

    public Task<RestoreResponse> RestoreAsync(RestoreRequest request, CancellationToken ct)
    {
        lock (_lock)
        {
            var h = _history.GetValueOrDefault(request.Path) ?? throw new DropboxException(ErrorKind.NotFound, "no history");
            if (request.OnlyIfDeleted && h.Count > 0 && !h[^1].Deleted)
            {
                throw new DropboxException(ErrorKind.AlreadyExists, $"'{request.Path}' is live now (version {h[^1].Version}); it was not restored over.");
            }

            var source = request.Version == 0 ? h.LastOrDefault(e => !e.Deleted) : h.FirstOrDefault(e => e.Version == request.Version && !e.Deleted);
            if (source is null)
            {
                throw new DropboxException(ErrorKind.NotFound, "no such version");
            }

            var entry = source.Clone();
            entry.Version = ++_seq;
            entry.ModifiedBy = request.Device;
            Append(entry, ChangeKind.Upsert, null);
            return Task.FromResult(new RestoreResponse { Entry = entry, Sequence = entry.Version });
        }
    }

    public Task<DeleteFileResponse> DeleteFileAsync(DeleteFileRequest request, CancellationToken ct)
    {
        lock (_lock)
        {
            var current = Current(request.Path) ?? throw new DropboxException(ErrorKind.NotFound, $"'{request.Path}' does not exist");
            CheckBase(request.Path, request.BaseVersion, allowAny: true);
            var expected = request.OnlyIfEmpty ? EntryKind.Folder : request.HasExpectedKind ? request.ExpectedKind : current.Kind;
            if (current.Kind != expected)
            {
                throw new DropboxException(ErrorKind.Conflict, $"'{request.Path}' is now a {current.Kind}, not a {expected}");
            }

            if (current.Kind == EntryKind.Folder)
            {
                // As the metadata node: a folder goes with everything under it, unless asked to go only when empty.
                var children = _history.Keys.Where(p => p.StartsWith(request.Path + "/", StringComparison.Ordinal) && Current(p) is not null).ToList();
                if (request.OnlyIfEmpty && children.Count > 0)
                {
                    throw new DropboxException(ErrorKind.Conflict, $"'{request.Path}' is not empty");
                }

                foreach (var child in children.OrderByDescending(p => p.Length))
                {
                    Append(new FileEntry { Path = child, Version = ++_seq, Deleted = true, Kind = Current(child)!.Kind, ModifiedBy = request.Device }, ChangeKind.Delete, null);
                }
            }

            var entry = new FileEntry { Path = request.Path, Version = ++_seq, Deleted = true, Kind = current.Kind, ModifiedBy = request.Device };
            Append(entry, ChangeKind.Delete, null);
            return Task.FromResult(new DeleteFileResponse { Sequence = entry.Version });
        }
    }

    /// <summary>Runs before each move is looked at (a test's chance to let another device act meanwhile).</summary>
    public Func<MoveFileRequest, Task>? BeforeMoveFile { get; set; }

    public Task<MoveFileResponse> MoveFileAsync(MoveFileRequest request, CancellationToken ct) =>
        BeforeMoveFile is { } before ? MoveFileAfterAsync(before, request) : MoveFile(request);

    private async Task<MoveFileResponse> MoveFileAfterAsync(Func<MoveFileRequest, Task> before, MoveFileRequest request)
    {
        await before(request).ConfigureAwait(false);
        return await MoveFile(request).ConfigureAwait(false);
    }

    private Task<MoveFileResponse> MoveFile(MoveFileRequest request)
    {
        lock (_lock)
        {
            var current = Current(request.FromPath) ?? throw new DropboxException(ErrorKind.NotFound, $"'{request.FromPath}' does not exist");
            CheckBase(request.FromPath, request.BaseVersion, allowAny: true);
            if (Current(request.ToPath) is not null)
            {
                throw new DropboxException(ErrorKind.AlreadyExists, $"'{request.ToPath}' exists");
            }

            EnsureParentsAreNotFiles(request.ToPath);

            // As the metadata node: a folder moves with everything under it, parents first, one move change each.
            var sources = new List<FileEntry> { current };
            if (current.Kind == EntryKind.Folder)
            {
                sources.AddRange(_history.Keys.Where(p => p.StartsWith(request.FromPath + "/", StringComparison.Ordinal) && Current(p) is not null)
                    .OrderBy(p => p.Length).ThenBy(p => p, StringComparer.Ordinal).Select(p => Current(p)!).ToList());
            }

            MoveFileResponse? first = null;
            foreach (var source in sources)
            {
                var seq = ++_seq;
                _history[source.Path].Add(new FileEntry { Path = source.Path, Version = seq, Deleted = true, Kind = source.Kind });
                var moved = source.Clone();
                moved.Path = request.ToPath + source.Path[request.FromPath.Length..];
                moved.Version = seq;
                moved.ModifiedBy = request.Device;
                Append(moved, ChangeKind.Move, source.Path);
                first ??= new MoveFileResponse { Entry = moved, Sequence = seq };
            }

            Moves++;
            return Task.FromResult(first!);
        }
    }

    public Task<CreateFolderResponse> CreateFolderAsync(CreateFolderRequest request, CancellationToken ct)
    {
        lock (_lock)
        {
            // As the metadata node: an existing folder is returned as is; a file is in the way.
            if (Current(request.Path) is { } existing)
            {
                return existing.Kind == EntryKind.Folder
                    ? Task.FromResult(new CreateFolderResponse { Entry = existing, Sequence = existing.Version })
                    : throw new DropboxException(ErrorKind.AlreadyExists, $"'{request.Path}' is a file");
            }

            EnsureParentsAreNotFiles(request.Path);
            var entry = new FileEntry { Path = request.Path, Version = ++_seq, Kind = EntryKind.Folder, ModifiedBy = request.Device };
            Append(entry, ChangeKind.Folder, null);
            return Task.FromResult(new CreateFolderResponse { Entry = entry, Sequence = entry.Version });
        }
    }

    public Task<GetAccountResponse> GetAccountAsync(CancellationToken ct) =>
        Task.FromResult(new GetAccountResponse { User = "alice", NamespaceId = "ns1", Cursor = _seq.ToString(CultureInfo.InvariantCulture) });

    /// <summary>Runs before each put is looked at (a test's chance to let another file's upload happen meanwhile).</summary>
    public Func<string, Task>? BeforePut { get; set; }

    /// <summary>Put calls that named their node by its gRPC URL alone (a real transfer can then only use gRPC).</summary>
    public int PutsByUrlOnly => Volatile.Read(ref _putsByUrlOnly);

    public Task PutChunksAsync(string grpcUrl, IReadOnlyList<OutgoingChunk> chunks, CancellationToken ct)
    {
        Interlocked.Increment(ref _putsByUrlOnly);
        return Put(grpcUrl, chunks);
    }

    public Task PutChunksAsync(ChunkLocation node, IReadOnlyList<OutgoingChunk> chunks, CancellationToken ct) => Put(node.GrpcUrl, chunks);

    private Task Put(string grpcUrl, IReadOnlyList<OutgoingChunk> chunks) =>
        BeforePut is { } before ? PutAfterAsync(before, grpcUrl, chunks) : PutChunks(grpcUrl, chunks);

    private async Task PutAfterAsync(Func<string, Task> before, string grpcUrl, IReadOnlyList<OutgoingChunk> chunks)
    {
        await before(grpcUrl).ConfigureAwait(false);
        await PutChunks(grpcUrl, chunks).ConfigureAwait(false);
    }

    private Task PutChunks(string grpcUrl, IReadOnlyList<OutgoingChunk> chunks)
    {
        lock (_lock)
        {
            if (FirstNodeFull && grpcUrl == NodeUrl)
            {
                throw new DropboxException(ErrorKind.ResourceExhausted, "Storage node n1 is full");
            }

            foreach (var c in chunks)
            {
                if (FailPutsAfter is { } limit && ChunksPut >= limit)
                {
                    throw new DropboxException(ErrorKind.Unavailable, "storage node went away");
                }

                if (PlannedWindowsAtFirstPut < 0)
                {
                    PlannedWindowsAtFirstPut = PlannedWindows;
                }

                var plain = Lz4ChunkCodec.Decode(c.Encoding, c.Stored.Span, c.PlainSize);
                if (ChunkId.Compute(plain) != c.Id || c.Token != "put:" + c.Id)
                {
                    throw new DropboxException(ErrorKind.DataLoss, "hash or token mismatch");
                }

                _chunks[c.Id] = (c.Encoding, c.Stored.ToArray(), c.PlainSize);
                ChunksPut++;
            }

            return Task.CompletedTask;
        }
    }

    /// <summary>Called at the start of every chunk fetch (a test's chance to change the folder while bytes come in).</summary>
    public Action? BeforeGetChunks { get; set; }

    private int _groupedRefused;

    /// <summary>When set, a fetch of more than one chunk at once fails with this kind (a node that refuses grouped requests).</summary>
    public ErrorKind? GroupedGetChunksError { get; set; }

    /// <summary>Grouped fetches refused because of <see cref="GroupedGetChunksError"/>.</summary>
    public int GroupedGetChunksRefused => _groupedRefused;

    public Task<IReadOnlyList<IncomingChunk>> GetChunksAsync(string grpcUrl, IReadOnlyList<ChunkId> ids, string token, CancellationToken ct)
    {
        BeforeGetChunks?.Invoke();
        if (ids.Count > 1 && GroupedGetChunksError is { } kind)
        {
            Interlocked.Increment(ref _groupedRefused);
            throw new DropboxException(kind, "simulated: the node refused a grouped fetch");
        }

        lock (_lock)
        {
            var result = new List<IncomingChunk>();
            foreach (var id in ids)
            {
                var (encoding, stored, plain) = _chunks.TryGetValue(id, out var c) ? c : throw new DropboxException(ErrorKind.NotFound, "no chunk");
                result.Add(new IncomingChunk(id, encoding, plain, ChunkBuffer.CopyOf(stored)));
                ChunksServed++;
            }

            return Task.FromResult<IReadOnlyList<IncomingChunk>>(result);
        }
    }

    /// <summary>As the metadata node: nothing is created under a path that is a file.</summary>
    private void EnsureParentsAreNotFiles(string path)
    {
        for (var slash = path.IndexOf('/', StringComparison.Ordinal); slash > 0; slash = path.IndexOf('/', slash + 1))
        {
            if (Current(path[..slash]) is { Kind: not EntryKind.Folder })
            {
                throw new DropboxException(ErrorKind.AlreadyExists, $"'{path[..slash]}' is a file");
            }
        }
    }

    private static bool SameContent(FileEntry? current, ulong size, IList<Shared.Protos.Common.ChunkRef> chunks) =>
        current is { Kind: EntryKind.File } && current.Size == size && current.Chunks.Select(c => c.Id).SequenceEqual(chunks.Select(c => c.Id));

    private void CheckBase(string path, ulong baseVersion, bool allowAny)
    {
        var current = CurrentVersion(path);
        if ((allowAny && baseVersion == 0) || baseVersion == current)
        {
            return;
        }

        throw new DropboxException(ErrorKind.Conflict, $"'{path}' is at version {current}, not {baseVersion}").WithDetail(RemoteErrors.CurrentVersion, current.ToString(CultureInfo.InvariantCulture));
    }

    private void Append(FileEntry entry, ChangeKind kind, string? oldPath)
    {
        if (!_history.TryGetValue(entry.Path, out var h))
        {
            _history[entry.Path] = h = [];
        }

        h.Add(entry);
        _changes.Add(new Change { Sequence = entry.Version, Kind = kind, Entry = entry, OldPath = oldPath ?? string.Empty });

        // Wakes the long polls waiting for this change.
        _changed.TrySetResult();
        _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
