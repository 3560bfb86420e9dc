using Dropbox.Shared.Channels;
using Dropbox.Shared.Tls;
using Grpc.Net.Client;

namespace Dropbox.Shared.Tests.Channels;

public sealed class GrpcChannelCacheTests
{
    [Fact]
    public void The_same_url_gets_the_same_channel_with_or_without_a_trailing_slash_and_another_url_another()
    {
        using var cache = new GrpcChannelCache(ServerTrust.System, 1 << 20);

        var first = cache.Get("http://127.0.0.1:5001");

        Assert.Same(first, cache.Get("http://127.0.0.1:5001/"));
        Assert.NotSame(first, cache.Get("http://127.0.0.1:5002"));
        Assert.Equal(2, cache.Count);
    }

    [Fact]
    public async Task Concurrent_first_calls_for_a_url_share_one_channel()
    {
        using var cache = new GrpcChannelCache(ServerTrust.System, 1 << 20);
        using var start = new Barrier(8);

        var channels = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() =>
        {
            start.SignalAndWait(TimeSpan.FromSeconds(10));
            return cache.Get("http://127.0.0.1:5003");
        })));

        Assert.Single(channels.Distinct());
        Assert.Equal(1, cache.Count);
        Assert.True(cache.Created == 1, $"{cache.Created} channels were built for one URL (the extra ones leak)");
    }

    [Theory]
    [InlineData("127.0.0.1:5004")]
    [InlineData("ftp://127.0.0.1/")]
    [InlineData("")]
    public void A_url_that_is_not_http_or_https_is_refused_with_a_message_naming_it(string url)
    {
        using var cache = new GrpcChannelCache(ServerTrust.System, 1 << 20);

        var error = Assert.Throws<ArgumentException>(() => cache.Get(url));

        Assert.Contains($"'{url}'", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, cache.Count);
    }

    [Fact]
    public async Task Dispose_closes_every_channel_and_refuses_later_gets()
    {
        var cache = new GrpcChannelCache(ServerTrust.System, 1 << 20);
        var channel = cache.Get("http://127.0.0.1:5005");

        cache.Dispose();

        Assert.Equal(0, cache.Count);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => channel.ConnectAsync());
        Assert.Throws<ObjectDisposedException>(() => cache.Get("http://127.0.0.1:5005"));
    }

    [Fact]
    public async Task A_get_racing_dispose_either_is_refused_or_its_channel_is_closed_by_it()
    {
        for (var round = 0; round < 200; round++)
        {
            var cache = new GrpcChannelCache(ServerTrust.System, 1 << 20);
            using var start = new Barrier(2);
            var get = Task.Run(() =>
            {
                start.SignalAndWait(TimeSpan.FromSeconds(10));
                try
                {
                    return cache.Get($"http://127.0.0.1:{6000 + round}");
                }
                catch (ObjectDisposedException)
                {
                    return null;
                }
            });
            start.SignalAndWait(TimeSpan.FromSeconds(10));
            cache.Dispose();
            var channel = await get;

            Assert.Equal(0, cache.Count);
            if (channel is not null)
            {
                await Assert.ThrowsAsync<ObjectDisposedException>(() => channel.ConnectAsync());
            }
        }
    }
}
