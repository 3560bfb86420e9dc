using System.Buffers.Binary;
using System.Text;
using Dropbox.Shared.Chunks;
using Dropbox.StorageNode.Engine.Durable;

namespace Dropbox.StorageNode.Store;

/// <summary>The outbox's records in the durable-log frame.</summary>
internal static class OutboxCodecs
{
    /// <summary>Longest namespace kept in an event (bytes of UTF-8).</summary>
    public const int MaxNamespaceBytes = 255;

    /// <summary>"Chunk stored": <c>id [32] | plain i32 | stored i32 | encoding u8 | namespace length u8 | namespace</c> (version 1).</summary>
    public sealed class Event : ILogRecordCodec<StoredChunkEvent>
    {
        public static Event Instance { get; } = new();

        public byte RecordType => 2;

        public byte Version => 1;

        public string Name => "outbox event";

        public int GetSize(StoredChunkEvent record) => 42 + Math.Min(Encoding.UTF8.GetByteCount(record.Namespace), MaxNamespaceBytes);

        public void Write(StoredChunkEvent record, Span<byte> body)
        {
            record.Id.WriteTo(body);
            BinaryPrimitives.WriteInt32LittleEndian(body[32..], record.PlainSize);
            BinaryPrimitives.WriteInt32LittleEndian(body[36..], record.StoredSize);
            body[40] = (byte)record.Encoding;
            var ns = Encoding.UTF8.GetBytes(record.Namespace);
            var length = Math.Min(ns.Length, MaxNamespaceBytes);
            body[41] = (byte)length;
            ns.AsSpan(0, length).CopyTo(body[42..]);
        }

        public StoredChunkEvent Read(byte version, ReadOnlySpan<byte> body)
        {
            if (body.Length < 42 || body.Length != 42 + body[41])
            {
                throw new LogFormatException($"An outbox event record has {body.Length} bytes, which no version-{version} event has.");
            }

            return new StoredChunkEvent(
                new ChunkId(body[..32]),
                BinaryPrimitives.ReadInt32LittleEndian(body[32..]),
                (ChunkEncoding)body[40],
                BinaryPrimitives.ReadInt32LittleEndian(body[36..]),
                Encoding.UTF8.GetString(body.Slice(42, body[41])));
        }
    }

    /// <summary>The delivered mark: <c>offset i64</c> into the event log (version 1).</summary>
    public sealed class Delivered : ILogRecordCodec<long>
    {
        public static Delivered Instance { get; } = new();

        public byte RecordType => 3;

        public byte Version => 1;

        public string Name => "outbox delivered mark";

        public int GetSize(long record) => 8;

        public void Write(long record, Span<byte> body) => BinaryPrimitives.WriteInt64LittleEndian(body, record);

        public long Read(byte version, ReadOnlySpan<byte> body) =>
            body.Length == 8 ? BinaryPrimitives.ReadInt64LittleEndian(body) : throw new LogFormatException($"A delivered mark has {body.Length} bytes; version {version} has 8.");
    }
}
