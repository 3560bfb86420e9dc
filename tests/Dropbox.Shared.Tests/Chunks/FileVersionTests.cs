using System.Security.Cryptography;
using Dropbox.Shared.Chunks;

namespace Dropbox.Shared.Tests.Chunks;

public sealed class FileVersionTests
{
    /// <summary>
    /// The content hash is SHA-256 over the ids laid end to end, however many there are: on each side of the point where
    /// the ids stop fitting one stack buffer (hashed in one call) and are hashed piece by piece.
    /// </summary>
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(FileVersion.OneShotIds - 1)]
    [InlineData(FileVersion.OneShotIds)]
    [InlineData(FileVersion.OneShotIds + 1)]
    [InlineData(2 * FileVersion.OneShotIds)]
    [InlineData((2 * FileVersion.OneShotIds) + 1)]
    [InlineData(1000)]
    public void The_content_hash_is_sha256_of_the_ids_in_order(int count)
    {
        var ids = Enumerable.Range(0, count).Select(i => ChunkId.Compute(BitConverter.GetBytes(i))).ToList();
        var concatenated = ids.SelectMany(id => id.ToArray()).ToArray();

        Assert.Equal(SHA256.HashData(concatenated), FileVersion.ComputeContentHash(ids));
        if (count > 1)
        {
            Assert.NotEqual(FileVersion.ComputeContentHash(ids), FileVersion.ComputeContentHash(Enumerable.Reverse(ids)));
        }
    }
}
