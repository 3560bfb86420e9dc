using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using Dropbox.SecurityTests.Infrastructure;

namespace Dropbox.SecurityTests;

/// <summary>
/// A client that starts a call, sends part of its message and resets the stream (a crash, a cancelled request, or
/// someone filling the operator's log on purpose, before any credential is checked) is a cancelled call: neither node
/// logs it as an error with a stack trace.
/// </summary>
public sealed class ClientResetTests(ApplianceFixture fixture) : IClassFixture<ApplianceFixture>
{
    private static readonly TimeSpan LogWait = TimeSpan.FromSeconds(1);
    private readonly Appliance _app = fixture.Appliance;

    [Theory]
    [InlineData("metadata", "/dropbox.metadata.v1.Sync/GetAccount")]
    [InlineData("metadata", "/dropbox.metadata.v1.Sync/PlanUpload")]
    [InlineData("storage", "/dropbox.storage.v1.ChunkStorage/DeleteChunks")]
    [InlineData("storage", "/dropbox.storage.v1.ChunkStorage/GetChunks")]
    public async Task A_stream_reset_in_the_middle_of_a_request_message_is_not_logged_as_an_error(string node, string path)
    {
        foreach (var bytesBeforeReset in new[] { 0, 3, 15 })
        {
            await ResetAfterAsync(node, path, bytesBeforeReset);
        }
    }

    private async Task ResetAfterAsync(string node, string path, int bytesBeforeReset)
    {
        var logs = node == "metadata" ? _app.MetadataLogs : _app.StorageLogs;
        var url = (node == "metadata" ? _app.MetadataUrl : _app.StorageGrpcUrl).TrimEnd('/') + path;
        var before = logs.Count;
        var resetsBefore = logs.ClientResets;

        for (var i = 0; i < 5; i++)
        {
            await SendHalfAndResetAsync(url, bytesBeforeReset);
        }

        // The node handles the reset at once; give it a bounded moment to (wrongly) log it.
        var clock = Stopwatch.StartNew();
        while (logs.Count == before && logs.ClientResets == resetsBefore && clock.Elapsed < LogWait)
        {
            await Task.Delay(20);
        }

        Assert.True(logs.Count == before, string.Join("\n----\n", logs.Since(before).Take(2)));
        Assert.Equal(resetsBefore, logs.ClientResets);
        Assert.Equal("alice", (await _app.Sync(_app.Alice).GetAccountAsync(new Dropbox.Shared.Protos.Metadata.GetAccountRequest())).User);
    }

    private static async Task SendHalfAndResetAsync(string url, int bytesBeforeReset)
    {
        using var http = new HttpClient(new SocketsHttpHandler());
        var content = new HalfMessageContent(bytesBeforeReset);
        using var request = new HttpRequestMessage(HttpMethod.Post, url)
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = content,
        };
        request.Headers.TryAddWithoutValidation("te", "trailers");
        content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
        using var reset = new CancellationTokenSource();
        var send = http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, reset.Token);
        await Task.WhenAny(content.Sent, send).WaitAsync(TimeSpan.FromSeconds(30));
        await reset.CancelAsync();
        try
        {
            using var response = await send;
        }
        catch (OperationCanceledException)
        {
        }
        catch (HttpRequestException)
        {
        }
    }

    /// <summary>The first bytes of a gRPC frame announcing 1,000 bytes, then nothing until the request is cancelled.</summary>
    private sealed class HalfMessageContent(int bytesBeforeReset) : HttpContent
    {
        private readonly TaskCompletionSource _sent = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Sent => _sent.Task;

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => SerializeToStreamAsync(stream, context, CancellationToken.None);

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
        {
            byte[] frame = [0, 0, 0, 0x03, 0xE8, 0x0A, 0x08, 1, 2, 3, 4, 5, 6, 7, 8];
            if (bytesBeforeReset > 0)
            {
                await stream.WriteAsync(frame.AsMemory(0, Math.Min(bytesBeforeReset, frame.Length)), cancellationToken);
            }

            await stream.FlushAsync(cancellationToken);
            _sent.TrySetResult();
            await Task.Delay(Timeout.Infinite, cancellationToken);
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
