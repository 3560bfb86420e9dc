using System.Runtime.InteropServices;
using Dropbox.StorageNode.Services;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.DependencyInjection;

namespace Dropbox.StorageNode.Tests.Services;

public sealed class LargeBlockMemoryPoolTests
{
    [Fact]
    public void Blocks_are_whole_blocks_reused_after_dispose_and_disposing_twice_returns_once()
    {
        using var pool = new LargeBlockMemoryPool();
        var first = pool.Rent(100);
        Assert.Equal(LargeBlockMemoryPool.BlockSize, first.Memory.Length);
        Assert.True(MemoryMarshal.TryGetArray<byte>(first.Memory, out var firstArray));
        first.Dispose();
        first.Dispose();

        using var second = pool.Rent();
        using var third = pool.Rent();
        Assert.True(MemoryMarshal.TryGetArray<byte>(second.Memory, out var secondArray));
        Assert.True(MemoryMarshal.TryGetArray<byte>(third.Memory, out var thirdArray));

        Assert.Same(firstArray.Array, secondArray.Array);
        Assert.NotSame(secondArray.Array, thirdArray.Array);
        Assert.Throws<ObjectDisposedException>(() => first.Memory);
    }

    [Fact]
    public void A_request_larger_than_a_block_is_refused()
    {
        using var pool = new LargeBlockMemoryPool();

        Assert.Throws<ArgumentOutOfRangeException>(() => pool.Rent(LargeBlockMemoryPool.BlockSize + 1));
    }

    [Fact]
    public async Task The_node_hands_kestrel_the_large_block_pool()
    {
        await using var node = await NodeFixture.StartAsync();

        var factory = node.Services.GetRequiredService<IMemoryPoolFactory<byte>>();

        Assert.IsType<LargeBlockMemoryPool.Factory>(factory);
    }
}
