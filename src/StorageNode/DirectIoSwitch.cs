using Dropbox.Shared.Errors;

namespace Dropbox.StorageNode;

/// <summary>
/// The storage node's <c>--direct-io on|off</c> (<see cref="StorageNodeOptions.DirectIo"/>), which the appliance passes
/// on to the storage nodes it starts: one parser, so the node and the appliance accept and refuse the same words.
/// </summary>
public static class DirectIoSwitch
{
    /// <summary>The flag's name.</summary>
    public const string Flag = "--direct-io";

    /// <summary><c>on</c> is true, <c>off</c> false (either case); anything else is InvalidArgument naming the flag and both values.</summary>
    public static bool Parse(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (value.Equals("on", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        if (value.Equals("off", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        throw new DropboxException(
            ErrorKind.InvalidArgument,
            $"{Flag} takes on or off (on, the default: segments are read and written with O_DIRECT where the file system allows it; off: through the page cache); got '{value}'.");
    }

    /// <summary>The word <see cref="Parse"/> reads back as <paramref name="on"/>.</summary>
    public static string Format(bool on) => on ? "on" : "off";
}
