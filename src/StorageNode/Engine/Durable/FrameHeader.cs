namespace Dropbox.StorageNode.Engine.Durable;

/// <summary>A parsed <see cref="LogFrame"/> header.</summary>
internal readonly record struct FrameHeader(int BodyLength, byte FrameVersion, byte RecordType, byte BodyVersion, ulong BodyHash)
{
    /// <summary>Header plus body.</summary>
    public int FrameLength => LogFrame.HeaderSize + BodyLength;
}
