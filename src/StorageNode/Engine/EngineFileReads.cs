using Dropbox.StorageNode.Engine.Files;

namespace Dropbox.StorageNode.Engine;

/// <summary>Reads that loop until the span is full or the file ends.</summary>
internal static class EngineFileReads
{
    /// <summary>Reads <paramref name="destination"/> from <paramref name="offset"/>; returns the bytes read (fewer only at the end).</summary>
    public static int ReadFully(this IEngineFile handle, Span<byte> destination, long offset)
    {
        var total = 0;
        while (total < destination.Length)
        {
            var n = handle.Read(destination[total..], offset + total);
            if (n == 0)
            {
                break;
            }

            total += n;
        }

        return total;
    }
}
