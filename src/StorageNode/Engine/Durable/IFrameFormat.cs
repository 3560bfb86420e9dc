namespace Dropbox.StorageNode.Engine.Durable;

/// <summary>
/// How <see cref="FrameScanner"/> walks one record format: a fixed header that checks itself, then a body the header
/// describes. The durable log's frames (<see cref="LogFrame"/>) and the segments' chunk records are two formats.
/// </summary>
/// <typeparam name="THeader">A parsed header.</typeparam>
internal interface IFrameFormat<THeader>
{
    /// <summary>Header bytes.</summary>
    int HeaderSize { get; }

    /// <summary>Parses a header; false if it is torn, rotten or not a header of this format.</summary>
    bool TryReadHeader(ReadOnlySpan<byte> header, out THeader parsed);

    /// <summary>Body bytes after the header.</summary>
    int BodyLength(in THeader header);

    /// <summary>True if the body is intact (its checksum matches).</summary>
    bool BodyMatches(in THeader header, ReadOnlySpan<byte> body);
}
