using System.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Dropbox.Benchmarks.Metadata;

/// <summary>
/// A stand-in storage node for the metadata runners, in a child process (<c>Dropbox.Benchmarks stand-in-node</c>) so
/// its CPU is not counted as the metadata node's: gRPC on 127.0.0.1:0 answering <see cref="StandInChunkStorage"/>'s
/// calls. A commit of freshly uploaded chunks asks the live nodes whether they hold them; against an address where
/// nothing listens each such call failed and logged, and that, not the metadata node, was what the figure measured.
/// The child exits when its standard input closes (this process ended or disposed it).
/// </summary>
internal sealed class StandInStorageNode : IDisposable
{
    /// <summary>The runner name of the child process.</summary>
    public const string Command = "stand-in-node";

    private const string Listening = "stand-in node listening: ";
    private readonly Process _process;

    private StandInStorageNode(Process process, string url)
    {
        _process = process;
        Url = url;
    }

    /// <summary>The stand-in's gRPC address (it serves no presigned HTTP).</summary>
    public string Url { get; }

    /// <summary>Starts the child and waits (at most a minute) until it listens.</summary>
    public static async Task<StandInStorageNode> StartAsync()
    {
        var info = ChildDotnet.StartInfo(Path.Combine(AppContext.BaseDirectory, "Dropbox.Benchmarks.dll"), [Command]);
        info.RedirectStandardInput = true;
        var process = Process.Start(info) ?? throw new InvalidOperationException("Could not start the stand-in storage node.");
        try
        {
            _ = process.StandardError.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            while (await process.StandardOutput.ReadLineAsync(timeout.Token).ConfigureAwait(false) is { } line)
            {
                if (line.StartsWith(Listening, StringComparison.Ordinal))
                {
                    _ = process.StandardOutput.ReadToEndAsync();
                    return new StandInStorageNode(process, line[Listening.Length..]);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Not listening after a minute: stop the child rather than leave it running until this process exits.
            ChildDotnet.Stop(process);
            throw new TimeoutException("The stand-in storage node did not report listening within 60 s.");
        }
        catch
        {
            ChildDotnet.Stop(process);
            throw;
        }

        ChildDotnet.Stop(process);
        throw new InvalidOperationException("The stand-in storage node exited before listening.");
    }

    /// <summary>The child's side: serves until standard input closes.</summary>
    public static async Task<int> RunAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.ConfigureKestrel(k => k.Listen(System.Net.IPAddress.Loopback, 0, l => l.Protocols = HttpProtocols.Http2));
        builder.Services.AddGrpc();
        await using var app = builder.Build();
        app.MapGrpcService<StandInChunkStorage>();
        await app.StartAsync().ConfigureAwait(false);
        var url = app.Urls.First();
        Console.WriteLine(Listening + url);
        await Console.In.ReadToEndAsync().ConfigureAwait(false);
        await app.StopAsync().ConfigureAwait(false);
        return 0;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        try
        {
            // End of input asks the child to stop; one that does not within 10 s is killed.
            _process.StandardInput.Close();
            _process.WaitForExit(10_000);
        }
        catch (IOException)
        {
        }
        finally
        {
            ChildDotnet.Stop(_process);
        }
    }
}
