using System.Globalization;

namespace Dropbox.Shared.Tests.Memory;

/// <summary>Reads this process's memory mappings (Linux).</summary>
internal static class ProcMaps
{
    /// <summary>True if the kernel has transparent huge pages at all (the advice is then visible as "hg").</summary>
    public static bool HasTransparentHugePages => OperatingSystem.IsLinux() && File.Exists("/sys/kernel/mm/transparent_hugepage/enabled");

    /// <summary>True if the mapping holding <paramref name="address"/> is advised for huge pages (VmFlags "hg").</summary>
    public static bool IsAdvisedForHugePages(nint address) => VmFlagsAt(address).Split(' ').Contains("hg");

    /// <summary>The VmFlags line of the mapping in /proc/self/smaps that holds <paramref name="address"/>.</summary>
    public static string VmFlagsAt(nint address)
    {
        var inside = false;
        foreach (var line in File.ReadLines("/proc/self/smaps"))
        {
            var dash = line.IndexOf('-', StringComparison.Ordinal);
            var space = line.IndexOf(' ', StringComparison.Ordinal);
            if (dash > 0 && space > dash && ulong.TryParse(line.AsSpan(0, dash), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var from)
                && ulong.TryParse(line.AsSpan(dash + 1, space - dash - 1), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var to))
            {
                inside = (ulong)address >= from && (ulong)address < to;
            }
            else if (inside && line.StartsWith("VmFlags:", StringComparison.Ordinal))
            {
                return line["VmFlags:".Length..].Trim();
            }
        }

        throw new InvalidOperationException($"No mapping in /proc/self/smaps holds 0x{address:x}.");
    }
}
