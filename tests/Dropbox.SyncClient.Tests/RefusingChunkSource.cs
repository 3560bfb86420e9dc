using System.Runtime.CompilerServices;
using Dropbox.SyncClient.Local;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// Refuses the streams of the files in <paramref name="denied"/> as the kernel refuses a read without permission (root,
/// which runs the tests, reads any file whatever its mode): the unreadable-file tests' chunk source.
/// </summary>
internal sealed class RefusingChunkSource(IChunkSource inner, HashSet<string> denied) : IChunkSource
{
    public IAsyncEnumerable<SourceChunk> ReadAsync(Stream input, bool keepData, CancellationToken ct)
    {
        if (input is FileStream file)
        {
            lock (denied)
            {
                if (denied.Contains(file.Name))
                {
                    return Refused(file.Name);
                }
            }
        }

        return inner.ReadAsync(input, keepData, ct);
    }

    public ValueTask<List<SourceChunk>> CutWholeAsync(ReadOnlyMemory<byte> data, CancellationToken ct) => inner.CutWholeAsync(data, ct);

#pragma warning disable CS1998 // an iterator that throws at its first MoveNext, as a refused open does before any byte
    private static async IAsyncEnumerable<SourceChunk> Refused(string path, [EnumeratorCancellation] CancellationToken ct = default)
    {
        throw new UnauthorizedAccessException($"Access to the path '{path}' is denied.");
#pragma warning disable CS0162
        yield break;
#pragma warning restore CS0162
    }
#pragma warning restore CS1998
}
