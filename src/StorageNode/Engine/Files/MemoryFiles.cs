namespace Dropbox.StorageNode.Engine.Files;

/// <summary>
/// The engine's files in memory, for crash tests: a file system that can lose power. It keeps, apart from what a
/// running process sees, what a disk would still hold after a power cut: a file's bytes as of its last
/// <see cref="IEngineFile.Flush"/>, and a directory's entries (creates, renames, deletes) as of its last
/// <see cref="SyncDirectory"/>. After <see cref="CrashAfter"/> mutating calls the power goes: that call and every
/// later one throw, and <see cref="Survivors"/> holds the state a restart would find. Unsynced writes and entries
/// are dropped, or with <see cref="KeepUnsyncedProbability"/> some of them survive in order, a write possibly torn.
/// Paths are plain strings; the root passed to the constructor exists and is durable.
/// </summary>
public sealed class MemoryFiles : IEngineFiles
{
    private readonly object _lock = new();
    private readonly Dictionary<string, MemoryNode> _entries = new(StringComparer.Ordinal);
    private readonly Dictionary<string, MemoryNode> _durable = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<(string Path, MemoryNode? Node)>> _pendingEntries = new(StringComparer.Ordinal);
    private long _callsLeft = long.MaxValue;
    private Random _crashRandom = new(0);
    private MemoryFiles? _survivors;

    /// <summary>Creates an empty file system whose only (durable) directory is <paramref name="root"/>.</summary>
    public MemoryFiles(string root)
    {
        Root = root;
        var node = MemoryNode.NewDirectory();
        _entries[root] = node;
        _durable[root] = node;
    }

    /// <summary>The root directory.</summary>
    public string Root { get; }

    /// <summary>
    /// When false, <see cref="SyncDirectory"/> does nothing (as a directory fsync that silently failed did), so
    /// entries become durable only by luck: a test can show the crash check finds that.
    /// </summary>
    public bool DirectorySyncWorks { get; set; } = true;

    /// <summary>Direct writes are accepted (and must be 4 KiB-aligned), so the padding path runs as on Linux.</summary>
    public bool SupportsDirect { get; set; } = true;

    /// <summary>Chance that each unsynced write or entry survives a crash anyway (0: all dropped).</summary>
    public double KeepUnsyncedProbability { get; set; }

    /// <summary>Mutating calls so far.</summary>
    public long Calls { get; private set; }

    /// <summary>True once the power is gone.</summary>
    public bool Crashed => _survivors is not null;

    /// <summary>What a restart finds after the crash; null before it.</summary>
    public MemoryFiles? Survivors => _survivors;

    /// <summary>Cuts the power after <paramref name="calls"/> more mutating calls; <paramref name="random"/> picks the survivors.</summary>
    public void CrashAfter(long calls, Random random)
    {
        lock (_lock)
        {
            _callsLeft = calls;
            _crashRandom = random;
        }
    }

    /// <summary>Cuts the power now (if it is not already gone).</summary>
    public void CrashNow(Random random)
    {
        lock (_lock)
        {
            if (_survivors is null)
            {
                _crashRandom = random;
                _survivors = Capture();
            }
        }
    }

    /// <inheritdoc />
    public void CreateDirectory(string path)
    {
        lock (_lock)
        {
            ThrowIfCrashed();
            if (_entries.TryGetValue(path, out var existing))
            {
                if (!existing.IsDirectory)
                {
                    throw new IOException($"'{path}' is a file.");
                }

                return;
            }

            var parent = ParentOf(path);
            CreateDirectory(parent);
            Tick();
            SetEntry(path, MemoryNode.NewDirectory());
        }
    }

    /// <inheritdoc />
    public bool FileExists(string path)
    {
        lock (_lock)
        {
            ThrowIfCrashed();
            return _entries.TryGetValue(path, out var node) && !node.IsDirectory;
        }
    }

    /// <inheritdoc />
    public IReadOnlyList<string> ListFiles(string directory, string suffix)
    {
        lock (_lock)
        {
            ThrowIfCrashed();
            RequireDirectory(directory);
            return _entries
                .Where(e => !e.Value.IsDirectory && ParentOf(e.Key) == directory && e.Key.EndsWith(suffix, StringComparison.Ordinal))
                .Select(e => e.Key)
                .Order(StringComparer.Ordinal)
                .ToList();
        }
    }

    /// <inheritdoc />
    public IEngineFile Open(string path, FileMode mode)
    {
        lock (_lock)
        {
            ThrowIfCrashed();
            _entries.TryGetValue(path, out var node);
            if (node is { IsDirectory: true })
            {
                throw new UnauthorizedAccessException($"'{path}' is a directory.");
            }

            switch (mode)
            {
                case FileMode.Open when node is null:
                    throw new FileNotFoundException($"No file '{path}'.", path);
                case FileMode.CreateNew when node is not null:
                    throw new IOException($"'{path}' already exists.");
                case FileMode.Create when node is not null:
                    Tick();
                    node.SetLength(0);
                    break;
                case FileMode.Create or FileMode.CreateNew:
                    RequireDirectory(ParentOf(path));
                    Tick();
                    node = MemoryNode.NewFile();
                    SetEntry(path, node);
                    break;
                case FileMode.Open:
                    break;
                default:
                    throw new ArgumentOutOfRangeException(nameof(mode), mode, "Open, CreateNew or Create.");
            }

            return new MemoryFile(this, node!);
        }
    }

    /// <inheritdoc />
    public void Move(string source, string destination)
    {
        lock (_lock)
        {
            ThrowIfCrashed();
            if (!_entries.TryGetValue(source, out var node) || node.IsDirectory)
            {
                throw new FileNotFoundException($"No file '{source}'.", source);
            }

            RequireDirectory(ParentOf(destination));
            Tick();
            SetEntry(source, null);
            SetEntry(destination, node);
        }
    }

    /// <inheritdoc />
    public void Delete(string path)
    {
        lock (_lock)
        {
            ThrowIfCrashed();
            if (_entries.TryGetValue(path, out var node) && !node.IsDirectory)
            {
                Tick();
                SetEntry(path, null);
            }
        }
    }

    /// <inheritdoc />
    public void SyncDirectory(string directory)
    {
        lock (_lock)
        {
            ThrowIfCrashed();
            RequireDirectory(directory);
            Tick();
            if (!DirectorySyncWorks || !_pendingEntries.Remove(directory, out var pending))
            {
                return;
            }

            foreach (var (path, node) in pending)
            {
                if (node is null)
                {
                    _durable.Remove(path);
                }
                else
                {
                    _durable[path] = node;
                }
            }
        }
    }

    /// <summary>Bytes of a file as the running process sees them (tests).</summary>
    public byte[]? ReadAllBytes(string path)
    {
        lock (_lock)
        {
            return _entries.TryGetValue(path, out var node) && !node.IsDirectory ? node.Data.AsSpan(0, (int)node.Length).ToArray() : null;
        }
    }

    internal int Read(MemoryNode node, Span<byte> destination, long offset, bool direct)
    {
        lock (_lock)
        {
            ThrowIfCrashed();

            // As Linux's O_DIRECT (EINVAL); the memory's alignment only a real file checks.
            if (direct && (offset % SegmentAppender.BlockSize != 0 || destination.Length % SegmentAppender.BlockSize != 0))
            {
                throw new IOException($"A direct read must be {SegmentAppender.BlockSize}-byte aligned (offset {offset}, length {destination.Length}).");
            }

            if (offset >= node.Length)
            {
                return 0;
            }

            var n = (int)Math.Min(destination.Length, node.Length - offset);
            node.Data.AsSpan((int)offset, n).CopyTo(destination);
            return n;
        }
    }

    internal long LengthOf(MemoryNode node)
    {
        lock (_lock)
        {
            ThrowIfCrashed();
            return node.Length;
        }
    }

    internal void Write(MemoryNode node, ReadOnlySpan<byte> source, long offset, bool direct)
    {
        lock (_lock)
        {
            ThrowIfCrashed();
            if (direct && (offset % SegmentAppender.BlockSize != 0 || source.Length % SegmentAppender.BlockSize != 0))
            {
                throw new IOException($"A direct write must be {SegmentAppender.BlockSize}-byte aligned (offset {offset}, length {source.Length}).");
            }

            Tick();
            node.Write(source, offset);
        }
    }

    internal void SetLength(MemoryNode node, long length)
    {
        lock (_lock)
        {
            ThrowIfCrashed();
            Tick();
            node.SetLength(length);
        }
    }

    internal void Flush(MemoryNode node)
    {
        lock (_lock)
        {
            ThrowIfCrashed();
            Tick();
            node.MakeDurable();
        }
    }

    private void Tick()
    {
        Calls++;
        if (--_callsLeft < 0)
        {
            _survivors = Capture();
            ThrowIfCrashed();
        }
    }

    private void ThrowIfCrashed()
    {
        if (_survivors is not null)
        {
            throw new IOException("Power lost (simulated): the device is gone.");
        }
    }

    private void SetEntry(string path, MemoryNode? node)
    {
        if (node is null)
        {
            _entries.Remove(path);
        }
        else
        {
            _entries[path] = node;
        }

        var parent = ParentOf(path);
        if (!_pendingEntries.TryGetValue(parent, out var list))
        {
            _pendingEntries[parent] = list = new();
        }

        list.Add((path, node));
    }

    private void RequireDirectory(string path)
    {
        if (!_entries.TryGetValue(path, out var node) || !node.IsDirectory)
        {
            throw new DirectoryNotFoundException($"No directory '{path}'.");
        }
    }

    private static string ParentOf(string path) =>
        Path.GetDirectoryName(path) ?? throw new IOException($"'{path}' has no parent directory.");

    /// <summary>The state after a power cut: durable entries and bytes, plus (by chance) some unsynced ones.</summary>
    private MemoryFiles Capture()
    {
        var random = _crashRandom;
        var keep = KeepUnsyncedProbability;
        var entries = new Dictionary<string, MemoryNode>(_durable, StringComparer.Ordinal);
        if (keep > 0)
        {
            foreach (var (_, pending) in _pendingEntries)
            {
                foreach (var (path, node) in pending)
                {
                    if (random.NextDouble() < keep)
                    {
                        if (node is null)
                        {
                            entries.Remove(path);
                        }
                        else
                        {
                            entries[path] = node;
                        }
                    }
                }
            }
        }

        var result = new MemoryFiles(Root)
        {
            DirectorySyncWorks = DirectorySyncWorks,
            SupportsDirect = SupportsDirect,
            KeepUnsyncedProbability = KeepUnsyncedProbability,
        };
        var copies = new Dictionary<MemoryNode, MemoryNode>(ReferenceEqualityComparer.Instance);

        // An entry survives only if its directory does, up to the root.
        foreach (var (path, node) in entries.OrderBy(e => e.Key.Length))
        {
            if (path == Root || !IsReachable(path, entries))
            {
                continue;
            }

            if (!copies.TryGetValue(node, out var copy))
            {
                copy = node.IsDirectory ? MemoryNode.NewDirectory() : node.Survivor(random, keep);
                copies[node] = copy;
            }

            result._entries[path] = copy;
            result._durable[path] = copy;
        }

        return result;
    }

    private bool IsReachable(string path, Dictionary<string, MemoryNode> entries)
    {
        for (var parent = Path.GetDirectoryName(path); parent is not null; parent = Path.GetDirectoryName(parent))
        {
            if (parent == Root)
            {
                return true;
            }

            if (!entries.TryGetValue(parent, out var node) || !node.IsDirectory)
            {
                return false;
            }
        }

        return false;
    }
}
