using System.Net;
using System.Net.Sockets;

namespace WorkCluster.Tests.Infrastructure;

/// <summary>
/// Free loopback ports for servers the tests start themselves (redis-server, HAProxy), which must be told a port.
/// Taken below the system's ephemeral range, so that the many processes of a running application, which ask the
/// system for "any port", cannot be handed one of them between the pick and the server's bind.
/// </summary>
public static class FreePorts
{
    private static readonly int EphemeralStart = File.Exists("/proc/sys/net/ipv4/ip_local_port_range")
        ? int.Parse(File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split(['\t', ' '], StringSplitOptions.RemoveEmptyEntries)[0])
        : 49_152;

    /// <summary>Whether something accepts connections on loopback port <paramref name="port"/>.</summary>
    public static bool Listens(int port)
    {
        try
        {
            using var socket = new TcpClient();
            socket.Connect(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    public static int Next()
    {
        for (var attempt = 0; attempt < 1000; attempt++)
        {
            var listener = new TcpListener(IPAddress.Loopback, Random.Shared.Next(10_000, EphemeralStart));
            try
            {
                listener.Start();
                return ((IPEndPoint)listener.LocalEndpoint).Port;
            }
            catch (SocketException)
            {
                // Taken: try another.
            }
            finally
            {
                listener.Stop();
            }
        }
        throw new InvalidOperationException("No free loopback port found.");
    }
}
