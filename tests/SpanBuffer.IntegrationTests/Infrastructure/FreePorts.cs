using System.Net;
using System.Net.Sockets;

namespace SpanBuffer.IntegrationTests.Infrastructure;

/// <summary>
/// Picks free loopback ports by letting the OS assign one (bind to port 0). A port is handed out at most
/// once per process, so fixtures starting at the same time never pick the same one; the small window
/// between releasing the probe socket and the server binding is covered by a retry in
/// <see cref="RedisServerProcess"/>.
/// </summary>
internal static class FreePorts
{
    /// <summary>Redis Cluster's bus port is the client port plus this.</summary>
    public const int ClusterBusOffset = 10000;

    private static readonly Lock _gate = new();
    private static readonly HashSet<int> _handedOut = [];

    /// <summary>Returns a free port; with <paramref name="withClusterBusPort"/>, port + 10000 is free too.</summary>
    public static int Next(bool withClusterBusPort)
    {
        lock (_gate)
        {
            for (var attempt = 0; attempt < 200; attempt++)
            {
                var port = BindAndRelease(0);
                if (_handedOut.Contains(port))
                {
                    continue;
                }

                if (withClusterBusPort)
                {
                    var busPort = port + ClusterBusOffset;
                    if (busPort > IPEndPoint.MaxPort || _handedOut.Contains(busPort) || !IsFree(busPort))
                    {
                        continue;
                    }

                    _handedOut.Add(busPort);
                }

                _handedOut.Add(port);
                return port;
            }
        }

        throw new InvalidOperationException("Found no free loopback port (with a free cluster bus port) in 200 attempts.");
    }

    private static bool IsFree(int port)
    {
        try
        {
            BindAndRelease(port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static int BindAndRelease(int port)
    {
        var listener = new TcpListener(IPAddress.Loopback, port);
        listener.Start();
        try
        {
            return ((IPEndPoint)listener.LocalEndpoint).Port;
        }
        finally
        {
            listener.Stop();
        }
    }
}
