using Dropbox.Shared.Protos.Metadata;
using Google.Protobuf;

namespace Dropbox.MetadataNode.Tests.Store;

/// <summary>
/// A Files CF value as the first release wrote and read it: <c>FileRecord { dropbox.metadata.v1.FileEntry current = 1;
/// uint32 version_count = 2; }</c>, the wire FileEntry embedded. Built on the wire message here, not on the stored
/// schema, so the tests check the two really are laid out alike.
/// </summary>
internal static class PreviousReleaseFileRecord
{
    public static byte[] Write(FileEntry current, uint versionCount)
    {
        using var stream = new MemoryStream();
        var output = new CodedOutputStream(stream);
        output.WriteTag(1, WireFormat.WireType.LengthDelimited);
        output.WriteMessage(current);
        if (versionCount != 0)
        {
            output.WriteTag(2, WireFormat.WireType.Varint);
            output.WriteUInt32(versionCount);
        }

        output.Flush();
        return stream.ToArray();
    }

    /// <summary>Reads a value as the first release did (fields it does not know are skipped).</summary>
    public static (FileEntry? Current, uint VersionCount) Read(byte[] bytes)
    {
        FileEntry? current = null;
        uint count = 0;
        var input = new CodedInputStream(bytes);
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            switch (WireFormat.GetTagFieldNumber(tag))
            {
                case 1:
                    current ??= new FileEntry();
                    input.ReadMessage(current);
                    break;
                case 2:
                    count = input.ReadUInt32();
                    break;
                default:
                    input.SkipLastField();
                    break;
            }
        }

        return (current, count);
    }

    /// <summary>The varint value of field <paramref name="number"/> at the top level of a message, or null.</summary>
    public static ulong? Varint(byte[] bytes, int number)
    {
        var input = new CodedInputStream(bytes);
        ulong? found = null;
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            if (WireFormat.GetTagFieldNumber(tag) == number && WireFormat.GetTagWireType(tag) == WireFormat.WireType.Varint)
            {
                found = input.ReadUInt64();
            }
            else
            {
                input.SkipLastField();
            }
        }

        return found;
    }

    /// <summary>The bytes of length-delimited field <paramref name="number"/> at the top level of a message, or null.</summary>
    public static byte[]? Bytes(byte[] bytes, int number)
    {
        var input = new CodedInputStream(bytes);
        byte[]? found = null;
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            if (WireFormat.GetTagFieldNumber(tag) == number && WireFormat.GetTagWireType(tag) == WireFormat.WireType.LengthDelimited)
            {
                found = input.ReadBytes().ToByteArray();
            }
            else
            {
                input.SkipLastField();
            }
        }

        return found;
    }

    /// <summary><paramref name="message"/> with a varint field <paramref name="number"/> appended (protobuf merges concatenations).</summary>
    public static byte[] WithVarint(byte[] message, int number, ulong value)
    {
        using var stream = new MemoryStream();
        stream.Write(message);
        var output = new CodedOutputStream(stream);
        output.WriteTag(number, WireFormat.WireType.Varint);
        output.WriteUInt64(value);
        output.Flush();
        return stream.ToArray();
    }
}
