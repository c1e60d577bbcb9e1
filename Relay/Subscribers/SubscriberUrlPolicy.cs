using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Options;

namespace Aspire.Webhooks.Relay.Subscribers;

/// <summary>Resolves host names; a class of its own so tests can make a name resolve where they need it to.</summary>
public class HostResolver
{
    public virtual Task<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken) =>
        Dns.GetHostAddressesAsync(host, cancellationToken);
}

/// <summary>
/// Where subscriber URLs may point. A URL that resolves to loopback, a private or link-local network, or a cloud
/// metadata address is refused when the subscriber is registered and again when each connection is made, since DNS
/// can change in between. <see cref="RelayOptions.AllowPrivateNetworkTargets"/> lifts that for trusted setups, except
/// for the cloud platform's own endpoints (instance metadata, Azure's WireServer): no subscriber has a reason to be
/// there, and a request to them from inside a cloud can hand out the host's credentials.
/// </summary>
public sealed class SubscriberUrlPolicy(IOptions<RelayOptions> options, IHostEnvironment environment, HostResolver resolver)
{
    public bool AllowPrivateNetworkTargets => options.Value.AllowPrivateNetworkTargets;

    /// <summary>Subscriber URLs must be HTTPS unless <c>Relay:RequireHttps</c> is false; in Development it defaults to false.</summary>
    public bool RequireHttps => options.Value.RequireHttps ?? !environment.IsDevelopment();

    public DefinitionRules Rules(int defaultMaxConcurrency) => new(defaultMaxConcurrency, RequireHttps);

    /// <summary>
    /// Null when the URL's host may be called; otherwise why not. A host that does not resolve is refused, unless private
    /// targets are allowed.
    /// </summary>
    public async Task<string?> CheckTargetAsync(Uri url, CancellationToken cancellationToken)
    {
        IPAddress[] addresses;
        try
        {
            addresses = await ResolveAsync(url.IdnHost, cancellationToken);
        }
        catch (SocketException ex)
        {
            // Where private targets are allowed, a name may be one only the network it is deployed to resolves.
            return AllowPrivateNetworkTargets ? null : $"the host '{url.Host}' does not resolve ({ex.SocketErrorCode}).";
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            // Whatever else the resolver throws (a name it will not look up, say) is still a URL that cannot be checked.
            return AllowPrivateNetworkTargets ? null : $"the host '{url.Host}' could not be resolved: {ex.Message}";
        }

        foreach (var address in addresses)
        {
            if (Refused(address) is { } refusal)
            {
                return $"the host '{url.Host}' resolves to {address}, {refusal.Reason}; " + (refusal.EvenWhenPrivateAllowed
                    ? "no subscriber may point there, whatever Relay:AllowPrivateNetworkTargets says."
                    : "set Relay:AllowPrivateNetworkTargets to true to allow private network targets.");
            }
        }

        return addresses.Length == 0 && !AllowPrivateNetworkTargets ? $"the host '{url.Host}' does not resolve." : null;
    }

    /// <summary>
    /// The subscriber client's connect step: resolves the host itself and refuses to connect when any address it
    /// resolves to is forbidden, so a name re-pointed at an internal address after registration reaches nothing.
    /// </summary>
    public async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var endpoint = context.DnsEndPoint;
        var addresses = await ResolveAsync(endpoint.Host, cancellationToken);
        foreach (var address in addresses)
        {
            if (Refused(address) is { } refusal)
            {
                throw new HttpRequestException(HttpRequestError.ConnectionError,
                    $"Refused to connect to '{endpoint.Host}': it resolves to {address}, {refusal.Reason}.");
            }
        }

        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(addresses, endpoint.Port, cancellationToken);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private Task<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken) =>
        IPAddress.TryParse(host.Trim('[', ']'), out var literal) ? Task.FromResult(new[] { literal }) : resolver.ResolveAsync(host, cancellationToken);

    /// <summary>Why this Relay may not call an address, with its settings, or null when it may.</summary>
    private Refusal? Refused(IPAddress address) =>
        Classify(address) is { } refusal && (refusal.EvenWhenPrivateAllowed || !AllowPrivateNetworkTargets) ? refusal : null;

    /// <summary>Why an address may not be a subscriber's where private targets are not allowed, or null when it may.</summary>
    public static string? Forbidden(IPAddress address) => Classify(address)?.Reason;

    /// <summary>Why an address may be refused, and whether <c>Relay:AllowPrivateNetworkTargets</c> lifts that.</summary>
    private readonly record struct Refusal(string Reason, bool EvenWhenPrivateAllowed);

    private static Refusal? Classify(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            var b = address.GetAddressBytes();
            return (b[0], b[1], b[2], b[3]) switch
            {
                (169, 254, 169, 254) or (100, 100, 100, 200) => new Refusal("a cloud metadata address", true),
                // Azure's WireServer: public in form, but answers only the virtual machines of the platform.
                (168, 63, 129, 16) => new Refusal("a cloud platform address", true),
                _ => Internal(b) is { } reason ? new Refusal(reason, false) : null,
            };
        }

        // By bytes, not Equals: a literal with a zone (::1%1) is not equal to IPAddress.IPv6Loopback.
        var bytes = address.GetAddressBytes();
        return bytes switch
        {
            [0xfd, 0x00, 0x0e, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x54] => new Refusal("a cloud metadata address", true),
            // Forms that carry an IPv4 address, which a translator or relay on the path may deliver to, are judged by
            // the address they carry: NAT64 (64:ff9b::/96) and 6to4 (2002::/16).
            [0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0, ..] => Embedded(bytes.AsSpan(12, 4)),
            [0x20, 0x02, ..] => Embedded(bytes.AsSpan(2, 4)),
            _ => InternalV6(address, bytes) is { } reason ? new Refusal(reason, false) : null,
        };

        static Refusal? Embedded(ReadOnlySpan<byte> ipv4)
        {
            var carried = new IPAddress(ipv4);
            return Classify(carried) is { } inner ? inner with { Reason = $"which carries {carried}, {inner.Reason}" } : null;
        }
    }

    private static string? Internal(byte[] b) => (b[0], b[1], b[2], b[3]) switch
    {
        (127, _, _, _) => "a loopback address",
        (0, _, _, _) => "an unspecified address",
        (10, _, _, _) or (192, 168, _, _) or (172, >= 16 and <= 31, _, _) => "a private network address",
        (100, >= 64 and <= 127, _, _) => "a carrier-grade NAT address",
        (169, 254, _, _) => "a link-local address",
        (192, 0, 0, _) or (198, 18 or 19, _, _) => "a reserved address",
        ( >= 224, _, _, _) => "a multicast or reserved address",
        _ => null,
    };

    private static string? InternalV6(IPAddress address, byte[] bytes) => bytes switch
    {
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1] => "a loopback address",
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] => "an unspecified address",
        [>= 0xfc and <= 0xfd, ..] => "a private network address",
        _ when address.IsIPv6LinkLocal => "a link-local address",
        _ when address.IsIPv6SiteLocal => "a site-local address",
        _ when address.IsIPv6Multicast => "a multicast address",
        // Local-use NAT64 (64:ff9b:1::/48) translates into the site's own network.
        [0x00, 0x64, 0xff, 0x9b, 0x00, 0x01, ..] => "a local-use NAT64 address",
        // The deprecated IPv4-compatible form (::a.b.c.d) has no legitimate use left.
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, ..] => "a reserved address",
        _ => null,
    };
}
