namespace Dropbox.StorageNode.Engine.Durable;

/// <summary>The body of one record type of a <see cref="RecordLog{T}"/>: its type byte, version, and encoding.</summary>
/// <typeparam name="T">The record.</typeparam>
internal interface ILogRecordCodec<T>
{
    /// <summary>Type byte written in every frame; a frame of another type in the file is an error.</summary>
    byte RecordType { get; }

    /// <summary>Body version written now; <see cref="Read"/> accepts it and every older one it knows.</summary>
    byte Version { get; }

    /// <summary>Human name for errors ("outbox event").</summary>
    string Name { get; }

    /// <summary>Body size of <paramref name="record"/>.</summary>
    int GetSize(T record);

    /// <summary>Writes the body (exactly <see cref="GetSize"/> bytes).</summary>
    void Write(T record, Span<byte> body);

    /// <summary>Reads a body of <paramref name="version"/>; <see cref="LogFormatException"/> if the version is unknown.</summary>
    T Read(byte version, ReadOnlySpan<byte> body);
}
