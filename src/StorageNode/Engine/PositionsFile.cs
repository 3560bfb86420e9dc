using System.Globalization;
using Dropbox.StorageNode.Engine.Files;
using Dropbox.StorageNode.Engine.Durable;

namespace Dropbox.StorageNode.Engine;

/// <summary>
/// The index's positions file (<c>index/positions</c>): one <see cref="Positions"/> record in the durable-log frame,
/// replaced whole. Reads the three text lines (token, segment, offset) older builds wrote too; the next
/// checkpoint replaces them with a framed record.
/// </summary>
internal static class PositionsFile
{
    /// <summary>File name under the index folder.</summary>
    public const string Name = "positions";

    /// <summary>The positions named, or null if there are none (no file, or no intact record: rebuild the index).</summary>
    public static Positions? Read(IEngineFiles files, string path) =>
        RecordFile.TryRead(files, path, PositionsCodec.Instance, out var positions, out var legacy) switch
        {
            RecordFileContent.Record => positions,
            RecordFileContent.Legacy => ParseLegacy(legacy),
            _ => null,
        };

    /// <summary>Durably replaces the positions.</summary>
    public static void Write(IEngineFiles files, string path, Positions positions) =>
        RecordFile.Replace(files, path, positions, PositionsCodec.Instance);

    private static Positions? ParseLegacy(byte[] bytes)
    {
        var lines = System.Text.Encoding.ASCII.GetString(bytes).Split('\n');
        if (lines.Length >= 3
            && Guid.TryParse(lines[0], out var token)
            && int.TryParse(lines[1], NumberStyles.None, CultureInfo.InvariantCulture, out var segment)
            && long.TryParse(lines[2], NumberStyles.None, CultureInfo.InvariantCulture, out var offset))
        {
            return new Positions(token, segment, offset);
        }

        return null;
    }
}
