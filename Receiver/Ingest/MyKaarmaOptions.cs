using System.Net;
using Microsoft.Extensions.Options;

namespace Aspire.Webhooks.Receiver.Ingest;

/// <summary>How the Receiver recognises genuine myKaarma requests. Bound from the <c>MyKaarma</c> section.</summary>
public sealed class MyKaarmaOptions
{
    public const string SectionName = "MyKaarma";

    /// <summary>The path myKaarma posts to.</summary>
    public string Path { get; set; } = "/webhooks/mykaarma";

    /// <summary>Client addresses or CIDR networks allowed to post (myKaarma sends from 54.174.160.138).</summary>
    public List<string> AllowedIps { get; set; } = [];

    /// <summary>Proxies (addresses or CIDR networks) whose <c>X-Forwarded-For</c> is believed, e.g. the ingress.</summary>
    public List<string> TrustedProxies { get; set; } = [];

    /// <summary>Accepted values of the <c>x-authorization-token</c> header.</summary>
    public List<string> AuthorizationTokens { get; set; } = [];

    /// <summary>HMAC-SHA256 keys for <c>mykaarma-signature-token</c>; several, so a secret rotates without downtime.</summary>
    public List<string> SigningSecrets { get; set; } = [];

    /// <summary>Largest body accepted; larger requests get 413.</summary>
    public long MaxBodyBytes { get; set; } = 1024 * 1024;

    /// <summary>
    /// Most webhook requests worked on at once; one more is answered 503 at once (with <c>Retry-After</c>) instead of
    /// queueing behind the others until every one of them misses the publish timeout.
    /// </summary>
    public int MaxConcurrentRequests { get; set; } = 512;
}

/// <summary>Fails start-up with a message naming the key that is missing or malformed.</summary>
internal sealed class MyKaarmaOptionsValidator(IHostEnvironment environment) : IValidateOptions<MyKaarmaOptions>
{
    public ValidateOptionsResult Validate(string? name, MyKaarmaOptions options)
    {
        var failures = new List<string>();

        if (string.IsNullOrWhiteSpace(options.Path) || !options.Path.StartsWith('/'))
        {
            failures.Add($"{MyKaarmaOptions.SectionName}:Path must be an absolute path such as /webhooks/mykaarma.");
        }

        if (options.MaxBodyBytes <= 0)
        {
            failures.Add($"{MyKaarmaOptions.SectionName}:MaxBodyBytes must be a positive number of bytes.");
        }

        if (options.MaxConcurrentRequests <= 0)
        {
            failures.Add($"{MyKaarmaOptions.SectionName}:MaxConcurrentRequests must be a positive number of requests.");
        }

        if (options.AllowedIps.Count == 0)
        {
            failures.Add($"{MyKaarmaOptions.SectionName}:AllowedIps must list at least one address or network " +
                "(myKaarma sends from 54.174.160.138; 0.0.0.0/0 and ::/0 allow everyone).");
        }

        CheckNetworks(options.AllowedIps, "AllowedIps", failures);
        CheckNetworks(options.TrustedProxies, "TrustedProxies", failures);

        if (!environment.IsDevelopment())
        {
            if (!options.SigningSecrets.Any(s => !string.IsNullOrWhiteSpace(s)))
            {
                failures.Add($"{MyKaarmaOptions.SectionName}:SigningSecrets needs at least one secret " +
                    "(set MyKaarma__SigningSecrets__0).");
            }

            if (!options.AuthorizationTokens.Any(t => !string.IsNullOrWhiteSpace(t)))
            {
                failures.Add($"{MyKaarmaOptions.SectionName}:AuthorizationTokens needs at least one token " +
                    "(set MyKaarma__AuthorizationTokens__0).");
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static void CheckNetworks(List<string> entries, string key, List<string> failures)
    {
        for (var i = 0; i < entries.Count; i++)
        {
            if (!IpNetworks.TryParse(entries[i], out _))
            {
                failures.Add($"{MyKaarmaOptions.SectionName}:{key}:{i} '{entries[i]}' is neither an IP address nor a CIDR network.");
            }
        }
    }
}

/// <summary>Parses allowlist entries: a single address or a CIDR network.</summary>
internal static class IpNetworks
{
    public static bool TryParse(string? entry, out IPNetwork network)
    {
        network = default;
        if (string.IsNullOrWhiteSpace(entry))
        {
            return false;
        }

        var text = entry.Trim();
        if (text.Contains('/'))
        {
            return IPNetwork.TryParse(text, out network);
        }

        if (!IPAddress.TryParse(text, out var address))
        {
            return false;
        }

        address = Normalize(address);
        network = new IPNetwork(address, address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128);
        return true;
    }

    public static IReadOnlyList<IPNetwork> ParseAll(IEnumerable<string> entries) =>
        entries.Select(e => TryParse(e, out var n) ? n : throw new FormatException($"'{e}' is not an address or network."))
            .ToArray();

    /// <summary>IPv4 clients reach a dual-stack socket as ::ffff:a.b.c.d; compare them as IPv4.</summary>
    public static IPAddress Normalize(IPAddress address) =>
        address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
}
