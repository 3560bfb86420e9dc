using System.Buffers.Binary;
using System.Buffers.Text;
using System.Text;
using Dropbox.Shared.Errors;

namespace Dropbox.Shared.Sync;

/// <summary>
/// A position in a namespace's change log: (namespace, sequence, epoch), opaque to clients as a string.
/// The epoch changes when a namespace's log is recreated, so an old cursor is refused, not misread.
/// </summary>
public readonly record struct ChangeCursor(string Namespace, ulong Sequence, ulong Epoch)
{
    private const byte FormatVersion = 1;

    /// <summary>The opaque string form.</summary>
    public override string ToString()
    {
        var ns = Encoding.UTF8.GetBytes(Namespace);
        var bytes = new byte[1 + 8 + 8 + ns.Length];
        bytes[0] = FormatVersion;
        BinaryPrimitives.WriteUInt64BigEndian(bytes.AsSpan(1), Sequence);
        BinaryPrimitives.WriteUInt64BigEndian(bytes.AsSpan(9), Epoch);
        ns.CopyTo(bytes.AsSpan(17));
        return Base64Url.EncodeToString(bytes);
    }

    /// <summary>Parses the opaque form; a malformed cursor is an InvalidArgument telling the client to reset.</summary>
    public static ChangeCursor Parse(string cursor)
    {
        try
        {
            var bytes = Base64Url.DecodeFromChars(cursor);
            if (bytes.Length >= 17 && bytes[0] == FormatVersion)
            {
                return new ChangeCursor(
                    Encoding.UTF8.GetString(bytes.AsSpan(17)),
                    BinaryPrimitives.ReadUInt64BigEndian(bytes.AsSpan(1)),
                    BinaryPrimitives.ReadUInt64BigEndian(bytes.AsSpan(9)));
            }
        }
        catch (FormatException)
        {
        }

        throw new DropboxException(ErrorKind.InvalidArgument, "Unknown cursor: it is not one this server issued. Reset: list changes again with an empty cursor and reconcile.");
    }
}
