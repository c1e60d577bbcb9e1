using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Aspire.Webhooks.Relay.Subscribers;

namespace Aspire.Webhooks.Relay.Tests;

/// <summary>DNS as a test says: each name resolves to what it was last mapped to; any other name does not resolve.</summary>
public sealed class FakeHostResolver : HostResolver
{
    private readonly ConcurrentDictionary<string, IPAddress[]> _names = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, Exception> _failures = new(StringComparer.OrdinalIgnoreCase);
    private int _lookups;

    public int Lookups => Volatile.Read(ref _lookups);

    public FakeHostResolver Map(string host, params string[] addresses)
    {
        _names[host] = [.. addresses.Select(IPAddress.Parse)];
        return this;
    }

    /// <summary>Makes a lookup of <paramref name="host"/> throw <paramref name="error"/>, as a resolver may for more than a missing name.</summary>
    public FakeHostResolver Fail(string host, Exception error)
    {
        _failures[host] = error;
        return this;
    }

    public override Task<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _lookups);
        if (_failures.TryGetValue(host, out var error))
        {
            return Task.FromException<IPAddress[]>(error);
        }

        return _names.TryGetValue(host, out var addresses)
            ? Task.FromResult(addresses)
            : Task.FromException<IPAddress[]>(new SocketException((int)SocketError.HostNotFound));
    }
}
