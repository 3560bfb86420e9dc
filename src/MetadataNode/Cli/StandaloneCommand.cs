using System.Runtime.InteropServices;
using Dropbox.MetadataNode.Domain;
using Dropbox.Shared.Errors;
using Dropbox.Shared.IO;
using Dropbox.StorageNode;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Dropbox.MetadataNode.Cli;

/// <summary>
/// The embedded appliance: <c>standalone [--data DIR] [--port PORT]</c> runs a metadata node on
/// 127.0.0.1:PORT and a storage node beside it in the same process, with data under DIR
/// (<c>metadata/</c>, <c>storage/</c>, <c>keys/</c>; all owner-only). On a new data folder it creates the first
/// user and prints <c>token: TOKEN</c> that once (later only <c>user token owner --data DIR</c> shows it, so it does
/// not land in service logs on every start), then <c>ready: URL</c> once a client can upload, and stops cleanly
/// on Ctrl-C or SIGTERM.
/// </summary>
internal static class StandaloneCommand
{
    /// <summary>Name of the first user created in a new data folder.</summary>
    public const string FirstUser = "owner";

    /// <summary>File (mode 0600) that keeps the first user's token for <c>user token owner --data DIR</c>.</summary>
    public const string TokenFileName = "owner.token";

    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(60);

    /// <summary>Runs the appliance until Ctrl-C or SIGTERM; returns the exit code.</summary>
    public static async Task<int> RunAsync(string data, int port)
    {
        if (port is < 0 or > 65535)
        {
            throw new DropboxException(ErrorKind.InvalidArgument, $"--port must be 0-65535; got {port}.");
        }

        data = Path.GetFullPath(data);
        var keys = Path.Combine(data, "keys");
        PrivateFolder.CreateAndTightenTree(data);

        using var stop = new CancellationTokenSource();
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, ctx => OnSignal(ctx, stop));
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, ctx => OnSignal(ctx, stop));

        var metadataOptions = new MetadataNodeOptions
        {
            DataDirectory = Path.Combine(data, "metadata"),
            KeysDirectory = keys,
            Urls = [$"http://127.0.0.1:{port}"],
        };
        await using var metadata = MetadataNodeHost.Build(metadataOptions, QuietLogging);
        var store = metadata.Services.GetRequiredService<MetadataStore>();
        var token = EnsureFirstUser(store, data);
        await metadata.StartAsync(stop.Token).ConfigureAwait(false);
        var metadataUrl = MetadataNodeHost.BoundUrls(metadata).First();

        var storage = StorageNodeHost.Build(
            new StorageNodeOptions
            {
                DataDirectory = Path.Combine(data, "storage"),
                KeysDirectory = keys,
                GrpcUrl = port == 0 ? "http://127.0.0.1:0" : $"http://127.0.0.1:{port + 1}",
                HttpUrl = port == 0 ? "http://127.0.0.1:0" : $"http://127.0.0.1:{port + 2}",
                MetadataUrl = metadataUrl,
                NodeId = "storage-1",
            },
            QuietLogging);
        await using (storage.ConfigureAwait(false))
        {
            await storage.StartAsync(stop.Token).ConfigureAwait(false);
            var (grpc, http) = await storage.Services.GetRequiredService<NodeAddresses>().WhenBound.ConfigureAwait(false);

            if (token is not null)
            {
                Console.WriteLine($"token: {token}");
            }

            await WaitForStorageAsync(store, stop.Token).ConfigureAwait(false);
            Console.WriteLine($"storage: {grpc} (presigned links on {http})");
            Console.WriteLine($"ready: {metadataUrl}");

            try
            {
                await Task.Delay(Timeout.Infinite, stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }

            Console.WriteLine("stopping...");
            using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            // Storage first, so its last events reach a metadata node that is still up.
            await storage.StopAsync(grace.Token).ConfigureAwait(false);
            await metadata.StopAsync(grace.Token).ConfigureAwait(false);
        }

        Console.WriteLine("stopped");
        return 0;
    }

    private static void OnSignal(PosixSignalContext context, CancellationTokenSource stop)
    {
        if (stop.IsCancellationRequested)
        {
            // Second Ctrl-C: let the runtime end the process at once.
            return;
        }

        context.Cancel = true;
        stop.Cancel();
    }

    private static string? EnsureFirstUser(MetadataStore store, string data)
    {
        if (store.ListUsers().Count > 0)
        {
            return null;
        }

        var (_, token) = store.AddUser(FirstUser);
        AtomicFile.WriteAllText(Path.Combine(data, TokenFileName), token + "\n");
        return token;
    }

    private static async Task WaitForStorageAsync(MetadataStore store, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + ReadyTimeout;
        while (store.LiveNodes().Count == 0)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new DropboxException(ErrorKind.Unavailable, $"The storage node did not register with the metadata node within {ReadyTimeout.TotalSeconds:0} s; see the log above.");
            }

            await Task.Delay(50, cancellationToken).ConfigureAwait(false);
        }
    }

    private static void QuietLogging(ILoggingBuilder logging) =>
        logging.SetMinimumLevel(LogLevel.Warning);
}
