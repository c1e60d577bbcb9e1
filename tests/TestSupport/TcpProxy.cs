using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace Aspire.Webhooks.TestSupport;

/// <summary>
/// A loopback TCP proxy to one server, which a test can cut (every open connection is dropped and new ones are
/// reset at once) and restore, to play a network partition between a service and its database.
/// </summary>
public sealed class TcpProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly string _targetHost;
    private readonly int _targetPort;
    private readonly ConcurrentDictionary<Socket, Socket> _open = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private volatile bool _cut;
    private int _refused;

    private TcpProxy(string targetHost, int targetPort)
    {
        _targetHost = targetHost;
        _targetPort = targetPort;
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>Connections made while cut, each reset at once: proof the client kept trying.</summary>
    public int RefusedConnections => Volatile.Read(ref _refused);

    public static TcpProxy Start(string targetHost, int targetPort) => new(targetHost, targetPort);

    /// <summary>Drops every proxied connection and resets new ones until <see cref="Restore"/>.</summary>
    public void Cut()
    {
        _cut = true;
        foreach (var (client, server) in _open)
        {
            Abort(client);
            Abort(server);
        }

        _open.Clear();
    }

    public void Restore() => _cut = false;

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptSocketAsync(_stop.Token);
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }

            if (_cut)
            {
                Interlocked.Increment(ref _refused);
                Abort(client);
                continue;
            }

            _ = RelayAsync(client);
        }
    }

    private async Task RelayAsync(Socket client)
    {
        var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        client.NoDelay = true;
        try
        {
            await server.ConnectAsync(_targetHost, _targetPort, _stop.Token);
        }
        catch (Exception)
        {
            Abort(client);
            Abort(server);
            return;
        }

        _open[client] = server;
        if (_cut)
        {
            // Cut while connecting: this connection must not survive the partition either.
            _open.TryRemove(client, out _);
            Abort(client);
            Abort(server);
            return;
        }

        await Task.WhenAny(PumpAsync(client, server), PumpAsync(server, client));
        _open.TryRemove(client, out _);
        Abort(client);
        Abort(server);
    }

    private async Task PumpAsync(Socket from, Socket to)
    {
        var buffer = new byte[64 * 1024];
        try
        {
            int read;
            while ((read = await from.ReceiveAsync(buffer, SocketFlags.None, _stop.Token)) > 0)
            {
                await to.SendAsync(buffer.AsMemory(0, read), SocketFlags.None, _stop.Token);
            }
        }
        catch (Exception)
        {
            // A cut or a closed peer ends the pump; the caller closes both sides.
        }
    }

    /// <summary>Closes with a reset rather than a graceful FIN, as a broken network would look to the client.</summary>
    private static void Abort(Socket socket)
    {
        try
        {
            socket.LingerState = new LingerOption(true, 0);
        }
        catch (Exception)
        {
            // Already closed.
        }

        socket.Dispose();
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        Cut();
        await _accepting;
        _stop.Dispose();
    }
}
