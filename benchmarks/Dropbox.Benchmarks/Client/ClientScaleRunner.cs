using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Dropbox.Benchmarks.Storage;

namespace Dropbox.Benchmarks.Client;

/// <summary>
/// The sync client at scale, end to end: a standalone appliance child process on 127.0.0.1, two clients (A uploads,
/// B downloads; separate state and folders) run as real processes, and per step the wall time and the client
/// process's peak RSS. Steps: a 10-file tree (upload, download, no-op pass = the baseline), one big random file
/// (upload, download, verified by SHA-256), a tree of N small files in subfolders (upload, download, no-op pass with
/// N files tracked). Prints a markdown table and bytes of peak RSS per tracked file. With <c>--slope-files M</c> (default
/// N/4; 0 turns it off) the tree steps first run for M files against an appliance of their own, and each tree step's
/// growth per file between M and N is printed: that slope is what a file costs, without the fixed cost of a large pass
/// (a bigger GC heap, thread pool, buffers) that a comparison with the 10-file baseline also counts.
/// Usage: <c>client-scale [--files N] [--slope-files M] [--big-gib G] [--per-folder K] [--step-timeout-min M] [--dir DIR]</c>.
/// </summary>
public static class ClientScaleRunner
{
    private const int BaselineFiles = 10;

    /// <summary>Runs the steps and prints the table; returns 0 when every step succeeded and verified.</summary>
    public static async Task<int> RunAsync(string[] args)
    {
        var files = StoragePutRunner.IntArg(args, "--files", 100_000);
        var slopeFiles = StoragePutRunner.IntArg(args, "--slope-files", files / 4);
        var perFolder = Math.Max(1, StoragePutRunner.IntArg(args, "--per-folder", 1000));
        var bigGib = double.Parse(StoragePutRunner.StringArg(args, "--big-gib") ?? "1", CultureInfo.InvariantCulture);
        var stepTimeout = TimeSpan.FromMinutes(StoragePutRunner.IntArg(args, "--step-timeout-min", 30));
        var root = StoragePutRunner.StringArg(args, "--dir") ?? Path.Combine(Path.GetTempPath(), "dbx-bench-client-" + Guid.NewGuid().ToString("N")[..8]);
        var client = BuiltBinaries.Find("SyncClient", "Dropbox.SyncClient.dll");
        Directory.CreateDirectory(root);
        var rows = new List<(string Step, long Tracked, MeasuredProcess.Result Result)>();
        try
        {
            Console.WriteLine($"client-scale: client {client}");
            Console.WriteLine($"client-scale: {files} files ({perFolder} per folder), big file {bigGib} GiB, {Environment.ProcessorCount} cores, dir {root}");
            var smaller = new List<MeasuredProcess.Result>();
            if (slopeFiles > 0 && slopeFiles < files)
            {
                using var first = await ApplianceProcess.StartAsync(Path.Combine(root, "appliance-slope")).ConfigureAwait(false);
                var c = new Side(client, Path.Combine(root, "c-state"), Path.Combine(root, "c-folder"), stepTimeout);
                var d = new Side(client, Path.Combine(root, "d-state"), Path.Combine(root, "d-folder"), stepTimeout);
                await c.LoginAsync(first, "bench-c").ConfigureAwait(false);
                await d.LoginAsync(first, "bench-d").ConfigureAwait(false);
                var smallRows = await TreeStepsAsync(c, d, slopeFiles, perFolder, 0).ConfigureAwait(false);
                rows.AddRange(smallRows);
                smaller.AddRange(smallRows.Select(r => r.Result));
            }

            using var appliance = await ApplianceProcess.StartAsync(Path.Combine(root, "appliance")).ConfigureAwait(false);
            var a = new Side(client, Path.Combine(root, "a-state"), Path.Combine(root, "a-folder"), stepTimeout);
            var b = new Side(client, Path.Combine(root, "b-state"), Path.Combine(root, "b-folder"), stepTimeout);
            await a.LoginAsync(appliance, "bench-a").ConfigureAwait(false);
            await b.LoginAsync(appliance, "bench-b").ConfigureAwait(false);

            // Baseline: a handful of files tracked.
            WriteTree(Path.Combine(a.Folder, "base"), BaselineFiles, perFolder, seed: 1);
            long tracked = BaselineFiles;
            rows.Add(("upload 10 files (A)", tracked, await a.SyncAsync().ConfigureAwait(false)));
            rows.Add(("download 10 files (B)", tracked, await b.SyncAsync().ConfigureAwait(false)));
            var baseline = await a.SyncAsync().ConfigureAwait(false);
            rows.Add(("no-op sync, 10 tracked (A)", tracked, baseline));

            if (bigGib > 0)
            {
                var bytes = (long)(bigGib * (1L << 30));
                Console.WriteLine($"  writing a {bytes:N0}-byte random file");
                var hash = await WriteRandomFileAsync(Path.Combine(a.Folder, "big.bin"), bytes).ConfigureAwait(false);
                tracked++;
                rows.Add(($"upload {bigGib} GiB file (A)", tracked, await a.SyncAsync().ConfigureAwait(false)));
                rows.Add(($"download {bigGib} GiB file (B)", tracked, await b.SyncAsync().ConfigureAwait(false)));
                var got = await HashFileAsync(Path.Combine(b.Folder, "big.bin")).ConfigureAwait(false);
                if (!got.AsSpan().SequenceEqual(hash))
                {
                    throw new InvalidOperationException("The downloaded big file differs from the uploaded one.");
                }
            }

            var treeRows = await TreeStepsAsync(a, b, files, perFolder, tracked).ConfigureAwait(false);
            rows.AddRange(treeRows);
            tracked += files;
            var noop = treeRows[^1].Result;

            Console.WriteLine();
            Console.WriteLine("| step | files tracked | wall s | peak RSS MB |");
            Console.WriteLine("|---|---:|---:|---:|");
            foreach (var (step, count, result) in rows)
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {step} | {count} | {result.Elapsed.TotalSeconds:F1} | {result.PeakRssBytes / 1e6:F1} |"));
            }

            if (files > 0)
            {
                Console.WriteLine();
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"bytes per tracked file (no-op peak RSS, {tracked} vs {BaselineFiles} tracked): {(noop.PeakRssBytes - baseline.PeakRssBytes) / (double)(tracked - BaselineFiles):F0}"));
            }

            if (smaller.Count == 3)
            {
                Console.WriteLine();
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"growth per file between {slopeFiles} and {files} files (peak RSS, separate appliances):"));
                string[] names = ["first upload", "first download", "no-op pass"];
                for (var i = 0; i < 3; i++)
                {
                    var big = treeRows[i].Result.PeakRssBytes;
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"  {names[i]}: {smaller[i].PeakRssBytes / 1e6:F1} -> {big / 1e6:F1} MB, {(big - smaller[i].PeakRssBytes) / (double)(files - slopeFiles):F0} bytes per file"));
                }
            }

            return 0;
        }
        finally
        {
            if (StoragePutRunner.StringArg(args, "--dir") is null)
            {
                try
                {
                    Directory.Delete(root, recursive: true);
                }
                catch (IOException e)
                {
                    Console.Error.WriteLine($"could not remove {root}: {e.Message}");
                }
            }
        }
    }

    /// <summary>A tree of <paramref name="files"/> small files: upload (up), download (down, checked complete), no-op pass (up).</summary>
    private static async Task<List<(string Step, long Tracked, MeasuredProcess.Result Result)>> TreeStepsAsync(Side up, Side down, int files, int perFolder, long trackedBefore)
    {
        Console.WriteLine($"  writing {files} small files");
        WriteTree(Path.Combine(up.Folder, "tree"), files, perFolder, seed: 2);
        var tracked = trackedBefore + files;
        var rows = new List<(string, long, MeasuredProcess.Result)>
        {
            ($"upload {files} files ({up.Name})", tracked, await up.SyncAsync().ConfigureAwait(false)),
            ($"download {files} files ({down.Name})", tracked, await down.SyncAsync().ConfigureAwait(false)),
        };
        var tree = Path.Combine(down.Folder, "tree");
        var arrived = Directory.Exists(tree) ? Directory.EnumerateFiles(tree, "*", SearchOption.AllDirectories).Count() : 0;
        if (arrived != files)
        {
            throw new InvalidOperationException($"{down.Name} has {arrived} of the {files} tree files after its pass.");
        }

        rows.Add(($"no-op sync, {tracked} tracked ({up.Name})", tracked, await up.SyncAsync().ConfigureAwait(false)));
        return rows;
    }

    /// <summary><paramref name="count"/> small files (0 to ~300 bytes, every one distinct) in folders of <paramref name="perFolder"/>.</summary>
    private static void WriteTree(string root, int count, int perFolder, int seed)
    {
        var random = new Random(seed);
        var buffer = new byte[320];
        for (var i = 0; i < count; i++)
        {
            var dir = Path.Combine(root, (i / perFolder).ToString("D4", CultureInfo.InvariantCulture));
            if (i % perFolder == 0)
            {
                Directory.CreateDirectory(dir);
            }

            // Every 100th file is empty; the rest start with their own name so no two are alike.
            var length = 0;
            if (i % 100 != 0)
            {
                length = Encoding.ASCII.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{seed}/{i}\n"), buffer);
                var extra = random.Next(0, 256);
                random.NextBytes(buffer.AsSpan(length, extra));
                length += extra;
            }

            File.WriteAllBytes(Path.Combine(dir, string.Create(CultureInfo.InvariantCulture, $"f{i:D6}.txt")), buffer.AsSpan(0, length).ToArray());
        }
    }

    private static async Task<byte[]> WriteRandomFileAsync(string path, long bytes)
    {
        var random = new Random(42);
        var buffer = new byte[1 << 20];
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        await using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 0);
        for (long done = 0; done < bytes; done += buffer.Length)
        {
            var n = (int)Math.Min(buffer.Length, bytes - done);
            random.NextBytes(buffer.AsSpan(0, n));
            hash.AppendData(buffer, 0, n);
            await file.WriteAsync(buffer.AsMemory(0, n)).ConfigureAwait(false);
        }

        return hash.GetHashAndReset();
    }

    private static async Task<byte[]> HashFileAsync(string path)
    {
        await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
        return await SHA256.HashDataAsync(file).ConfigureAwait(false);
    }

    /// <summary>One client: its state and folder, run as a real process per verb.</summary>
    private sealed class Side(string dll, string state, string folder, TimeSpan timeout)
    {
        public string Folder { get; } = folder;

        /// <summary>A, B, C or D (from the state directory's name).</summary>
        public string Name { get; } = Path.GetFileName(state)[..1].ToUpperInvariant();

        public async Task LoginAsync(ApplianceProcess appliance, string device)
        {
            var result = await MeasuredProcess.RunAsync(dll, ["login", "--server", appliance.Url, "--token", appliance.Token, "--folder", Folder, "--state", state, "--device", device], timeout).ConfigureAwait(false);
            Check("login", result);
        }

        public async Task<MeasuredProcess.Result> SyncAsync()
        {
            var result = await MeasuredProcess.RunAsync(dll, ["sync", "--once", "--state", state], timeout).ConfigureAwait(false);
            Check("sync --once", result);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {Path.GetFileName(state)} sync --once: {result.Elapsed.TotalSeconds:F1} s, peak RSS {result.PeakRssBytes / 1e6:F1} MB"));
            return result;
        }

        private static void Check(string what, MeasuredProcess.Result result)
        {
            if (result.ExitCode != 0)
            {
                throw new InvalidOperationException($"client {what} exited with {result.ExitCode}:\n{result.Output}");
            }
        }
    }
}
