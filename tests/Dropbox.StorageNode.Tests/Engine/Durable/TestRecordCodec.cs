using System.Text;
using Dropbox.StorageNode.Engine.Durable;

namespace Dropbox.StorageNode.Tests.Engine.Durable;

/// <summary>Records as UTF-8 strings, for the log tests.</summary>
internal sealed class TestRecordCodec(byte version = 1) : ILogRecordCodec<string>
{
    public byte RecordType => 200;

    public byte Version => version;

    public string Name => "test";

    public int GetSize(string record) => Encoding.UTF8.GetByteCount(record);

    public void Write(string record, Span<byte> body) => Encoding.UTF8.GetBytes(record, body);

    public string Read(byte version, ReadOnlySpan<byte> body) => Encoding.UTF8.GetString(body);
}
