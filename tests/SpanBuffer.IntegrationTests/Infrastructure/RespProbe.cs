using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace SpanBuffer.IntegrationTests.Infrastructure;

/// <summary>
/// A one-command RESP client for process startup and shutdown (PING, CLUSTER INFO, SHUTDOWN), used before
/// a multiplexer can connect. It understands the reply kinds those commands produce: simple strings,
/// errors, integers and bulk strings.
/// </summary>
internal static class RespProbe
{
    /// <summary>Sends one command to 127.0.0.1:<paramref name="port"/> and returns the reply as text.</summary>
    /// <exception cref="InvalidOperationException">The server answered with an error.</exception>
    /// <exception cref="IOException">The server closed the connection before a complete reply.</exception>
    public static async Task<string?> SendAsync(int port, TimeSpan timeout, CancellationToken cancellationToken, params string[] command)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port, cts.Token);
        var stream = client.GetStream();
        await stream.WriteAsync(Encode(command), cts.Token);

        var received = new List<byte>();
        var buffer = new byte[4096];
        while (true)
        {
            if (TryParse(received, out var reply))
            {
                return reply;
            }

            var read = await stream.ReadAsync(buffer, cts.Token);
            if (read == 0)
            {
                throw new IOException($"127.0.0.1:{port} closed the connection before replying to {command[0]}.");
            }

            received.AddRange(buffer.AsSpan(0, read));
        }
    }

    private static byte[] Encode(string[] command)
    {
        var request = new StringBuilder();
        request.Append(CultureInfo.InvariantCulture, $"*{command.Length}\r\n");
        foreach (var part in command)
        {
            request.Append(CultureInfo.InvariantCulture, $"${Encoding.UTF8.GetByteCount(part)}\r\n{part}\r\n");
        }

        return Encoding.UTF8.GetBytes(request.ToString());
    }

    private static bool TryParse(List<byte> received, out string? reply)
    {
        reply = null;
        var bytes = received.ToArray();
        var headerEnd = bytes.AsSpan().IndexOf("\r\n"u8);
        if (headerEnd < 0)
        {
            return false;
        }

        var header = Encoding.UTF8.GetString(bytes, 1, headerEnd - 1);
        switch ((char)bytes[0])
        {
            case '+':
            case ':':
                reply = header;
                return true;
            case '-':
                throw new InvalidOperationException($"Redis replied with an error: {header}");
            case '$':
                var length = int.Parse(header, CultureInfo.InvariantCulture);
                if (length < 0)
                {
                    return true;
                }

                var bodyStart = headerEnd + 2;
                if (bytes.Length < bodyStart + length + 2)
                {
                    return false;
                }

                reply = Encoding.UTF8.GetString(bytes, bodyStart, length);
                return true;
            default:
                throw new InvalidOperationException($"Unexpected RESP reply type '{(char)bytes[0]}'.");
        }
    }
}
