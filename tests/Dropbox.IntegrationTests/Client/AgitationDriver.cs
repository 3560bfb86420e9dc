using System.Security.Cryptography;
using System.Text;

namespace Dropbox.IntegrationTests.Client;

/// <summary>
/// Seeded random file operations on several sync folders at once (creates, edits, appends, renames, case-only
/// renames, deletes), remembering every content it wrote and which of them its own side later overwrote or deleted:
/// the rest must survive sync somewhere (a folder, a conflicted copy, or the server's history).
/// Contents stay under 48 KiB, so each file is one chunk whose id is the SHA-256 of its bytes.
/// </summary>
internal sealed class AgitationDriver
{
    private const int MaxContent = 48 * 1024;
    private static readonly string[] Folders = ["", "d1/", "d2/", "d1/e/"];
    private static readonly string[] Names = ["a.txt", "b.txt", "c.dat", "Notes.md", "img.dat"];
    private readonly Random _random;
    private readonly IReadOnlyList<string> _roots;
    private readonly Lock _lock = new();
    private int _sequence;

    public AgitationDriver(int seed, IReadOnlyList<string> roots)
    {
        _random = new Random(seed);
        _roots = roots;
    }

    /// <summary>Content (by SHA-256 hex) written by a side → that side's index.</summary>
    public Dictionary<string, int> Written { get; } = [];

    /// <summary>Contents their own side overwrote or deleted afterwards (they may legitimately be gone).</summary>
    public HashSet<string> Superseded { get; } = [];

    /// <summary>Operations done, by kind (an operation the file system refused, e.g. a file the daemon was replacing, is not counted).</summary>
    public Dictionary<string, int> Done { get; } = [];

    public int Operations => Done.Values.Sum();

    public static string Hash(ReadOnlySpan<byte> content) => Convert.ToHexStringLower(SHA256.HashData(content));

    /// <summary>Operations on random sides at random short intervals until <paramref name="duration"/> has passed.</summary>
    public async Task RunAsync(TimeSpan duration, CancellationToken ct)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (clock.Elapsed < duration && !ct.IsCancellationRequested)
        {
            int side, pause;
            lock (_lock)
            {
                side = _random.Next(_roots.Count);
                pause = _random.Next(0, 250);
            }

            Step(side);
            await Task.Delay(pause, ct);
        }
    }

    /// <summary>One random operation on <paramref name="side"/>'s folder.</summary>
    public void Step(int side)
    {
        var root = _roots[side];
        var existing = ListFiles(root);
        var roll = _random.Next(100);
        try
        {
            if (existing.Count == 0 || roll < 22)
            {
                var path = Folders[_random.Next(Folders.Length)] + Names[_random.Next(Names.Length)];
                if (!File.Exists(Full(root, path)) && !Directory.Exists(Full(root, path)))
                {
                    WriteNew(side, root, path, NewContent(side), "create");
                }

                return;
            }

            var target = existing[_random.Next(existing.Count)];
            var full = Full(root, target);
            if (roll < 42)
            {
                var old = File.ReadAllBytes(full);
                Overwrite(side, full, old, NewContent(side), "edit");
            }
            else if (roll < 60)
            {
                var old = File.ReadAllBytes(full);
                var added = old.Length + 200 > MaxContent ? NewContent(side) : [.. old, .. NewContent(side)];
                Overwrite(side, full, old, added, "append");
            }
            else if (roll < 72)
            {
                var to = Folders[_random.Next(Folders.Length)] + Names[_random.Next(Names.Length)];
                var toFull = Full(root, to);
                if (!File.Exists(toFull) && !Directory.Exists(toFull))
                {
                    Directory.CreateDirectory(Path.GetDirectoryName(toFull)!);
                    File.Move(full, toFull);
                    Count("rename");
                }
            }
            else if (roll < 86)
            {
                var name = Path.GetFileName(target);
                var flipped = name.Any(char.IsUpper) ? name.ToLowerInvariant() : char.ToUpperInvariant(name[0]) + name[1..];
                var toFull = Path.Combine(Path.GetDirectoryName(full)!, flipped);
                if (flipped != name && !File.Exists(toFull))
                {
                    File.Move(full, toFull);
                    Count("case-rename");
                }
            }
            else
            {
                var old = File.ReadAllBytes(full);
                File.Delete(full);
                lock (_lock)
                {
                    MarkSupersededIfOwn(side, old);
                }

                Count("delete");
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The daemon moved or replaced the file meanwhile: not an operation.
        }
    }

    private void WriteNew(int side, string root, string path, byte[] content, string kind)
    {
        var full = Full(root, path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        using (var stream = new FileStream(full, FileMode.CreateNew, FileAccess.Write))
        {
            stream.Write(content);
        }

        lock (_lock)
        {
            Written[Hash(content)] = side;
        }

        Count(kind);
    }

    private void Overwrite(int side, string full, byte[] old, byte[] content, string kind)
    {
        using (var stream = new FileStream(full, FileMode.Truncate, FileAccess.Write))
        {
            stream.Write(content);
        }

        lock (_lock)
        {
            Written[Hash(content)] = side;
            MarkSupersededIfOwn(side, old);
        }

        Count(kind);
    }

    private void MarkSupersededIfOwn(int side, byte[] old)
    {
        if (Written.TryGetValue(Hash(old), out var owner) && owner == side)
        {
            Superseded.Add(Hash(old));
        }
    }

    private void Count(string kind)
    {
        lock (_lock)
        {
            Done[kind] = Done.GetValueOrDefault(kind) + 1;
        }
    }

    private byte[] NewContent(int side)
    {
        int n;
        byte[] padding;
        lock (_lock)
        {
            n = ++_sequence;
            padding = new byte[_random.Next(0, 300)];
            _random.NextBytes(padding);
        }

        return [.. Encoding.UTF8.GetBytes($"side {side} op {n}\n"), .. Encoding.UTF8.GetBytes(Convert.ToBase64String(padding)), (byte)'\n'];
    }

    private static string Full(string root, string relative) => Path.Combine(root, relative.Replace('/', Path.DirectorySeparatorChar));

    /// <summary>The user's files under <paramref name="root"/> (relative, '/'-separated), without the client's own marker and temp files.</summary>
    public static List<string> ListFiles(string root)
    {
        var options = new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = true, AttributesToSkip = FileAttributes.ReparsePoint };
        try
        {
            return Directory.EnumerateFiles(root, "*", options)
                .Select(f => Path.GetRelativePath(root, f).Replace(Path.DirectorySeparatorChar, '/'))
                .Where(p => !Path.GetFileName(p).StartsWith(".dropbox", StringComparison.Ordinal))
                .Order(StringComparer.Ordinal)
                .ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }

    /// <summary>Path → SHA-256 hex of every user file under <paramref name="root"/> (a file gone meanwhile is left out).</summary>
    public static SortedDictionary<string, string> Snapshot(string root)
    {
        var result = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var path in ListFiles(root))
        {
            try
            {
                result[path] = Hash(File.ReadAllBytes(Full(root, path)));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }

        return result;
    }
}
