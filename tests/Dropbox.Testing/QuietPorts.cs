using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Dropbox.Testing;

/// <summary>
/// Listening ports for a server a test stops and starts again on the same port. A port the kernel hands out as an
/// outgoing connection's source port (the ephemeral range) can be taken the moment the server is gone, by any process's
/// connection, even by a client of that very server connecting to itself (TCP simultaneous open on 127.0.0.1). A port
/// below that range is never handed out so, so only a listener can take it.
/// </summary>
public static class QuietPorts
{
    private const int Lowest = 20000;

    /// <summary>A port on 127.0.0.1 below the ephemeral range that was free a moment ago (another test may still bind it first).</summary>
    public static int Next()
    {
        var below = EphemeralLow();
        for (var attempt = 0; attempt < 200; attempt++)
        {
            var port = Random.Shared.Next(Lowest, below);
            using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                probe.Bind(new IPEndPoint(IPAddress.Loopback, port));
                return port;
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
            {
                // taken: try another
            }
        }

        throw new InvalidOperationException($"No free port on 127.0.0.1 between {Lowest} and {below} after 200 tries.");
    }

    private static int EphemeralLow()
    {
        try
        {
            var range = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            var low = int.Parse(range[0], CultureInfo.InvariantCulture);
            return low > Lowest + 1000 ? low : 32768;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return 32768; // Linux's default
        }
    }
}
