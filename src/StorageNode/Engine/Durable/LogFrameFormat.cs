namespace Dropbox.StorageNode.Engine.Durable;

/// <summary>
/// <see cref="LogFrame"/> as a <see cref="IFrameFormat{THeader}"/> for one log: every intact header is also checked
/// against what this build reads (frame version, record type, body version), so a newer file is a clear error.
/// </summary>
internal sealed class LogFrameFormat<T>(ILogRecordCodec<T> codec, string path) : IFrameFormat<FrameHeader>
{
    public int HeaderSize => LogFrame.HeaderSize;

    public bool TryReadHeader(ReadOnlySpan<byte> header, out FrameHeader parsed)
    {
        if (!LogFrame.TryReadHeader(header, out parsed))
        {
            return false;
        }

        if (parsed.FrameVersion > LogFrame.FrameVersion)
        {
            throw new LogFormatException($"{path} holds a record in log frame version {parsed.FrameVersion}; this build reads up to version {LogFrame.FrameVersion}. It was written by a newer build: run that build (or newer) on this data folder.");
        }

        if (parsed.RecordType != codec.RecordType)
        {
            throw new LogFormatException($"{path} holds a record of type {parsed.RecordType} where {codec.Name} records (type {codec.RecordType}) belong; the file is not this log. Check the data folder.");
        }

        if (parsed.BodyVersion > codec.Version)
        {
            throw new LogFormatException($"{path} holds a {codec.Name} record of version {parsed.BodyVersion}; this build reads up to version {codec.Version}. It was written by a newer build: run that build (or newer) on this data folder.");
        }

        return true;
    }

    public int BodyLength(in FrameHeader header) => header.BodyLength;

    public bool BodyMatches(in FrameHeader header, ReadOnlySpan<byte> body) => LogFrame.BodyMatches(header, body);
}
