using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace Aspire.Webhooks.Receiver.Ingest;

/// <summary>
/// The three proofs that a request comes from myKaarma: its source address, its authorization token and the
/// HMAC of its body. Keys are prepared once per options change, never per request.
/// </summary>
public sealed class RequestAuthenticator
{
    public const string AuthorizationHeader = "x-authorization-token";
    public const string SignatureHeader = "mykaarma-signature-token";
    private const string SignaturePrefix = "sha256=";

    private volatile Keys _keys;

    public RequestAuthenticator(IOptionsMonitor<MyKaarmaOptions> options)
    {
        _keys = Keys.From(options.CurrentValue);
        options.OnChange(changed => _keys = Keys.From(changed));
    }

    public bool IsAllowedClient(IPAddress? address)
    {
        if (address is null)
        {
            return false;
        }

        var normalized = IpNetworks.Normalize(address);
        foreach (var network in _keys.AllowedNetworks)
        {
            if (network.Contains(normalized))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Compares against every configured token in constant time, so timing says nothing about them.</summary>
    public bool IsAuthorized(string? token)
    {
        if (string.IsNullOrEmpty(token))
        {
            return false;
        }

        // Hashing first gives equal-length inputs, so the comparison time depends on neither value's length.
        Span<byte> presented = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(Encoding.UTF8.GetBytes(token), presented);

        var match = false;
        foreach (var expected in _keys.TokenHashes)
        {
            match |= CryptographicOperations.FixedTimeEquals(presented, expected);
        }

        return match;
    }

    public SignatureCheck VerifySignature(string? header, ReadOnlySpan<byte> body)
    {
        if (string.IsNullOrEmpty(header))
        {
            return SignatureCheck.Missing;
        }

        if (!header.StartsWith(SignaturePrefix, StringComparison.OrdinalIgnoreCase))
        {
            return SignatureCheck.Malformed;
        }

        var hex = header.AsSpan(SignaturePrefix.Length).Trim();
        Span<byte> presented = stackalloc byte[HMACSHA256.HashSizeInBytes];
        if (hex.Length != presented.Length * 2 ||
            Convert.FromHexString(hex, presented, out _, out var written) != System.Buffers.OperationStatus.Done ||
            written != presented.Length)
        {
            return SignatureCheck.Malformed;
        }

        Span<byte> computed = stackalloc byte[HMACSHA256.HashSizeInBytes];
        var match = false;
        foreach (var secret in _keys.SigningSecrets)
        {
            HMACSHA256.HashData(secret, body, computed);
            match |= CryptographicOperations.FixedTimeEquals(computed, presented);
        }

        return match ? SignatureCheck.Valid : SignatureCheck.Mismatch;
    }

    /// <summary>The value myKaarma puts in <see cref="SignatureHeader"/> for a body signed with a secret.</summary>
    public static string Sign(string secret, ReadOnlySpan<byte> body) =>
        SignaturePrefix + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), body));

    private sealed record Keys(IPNetwork[] AllowedNetworks, byte[][] TokenHashes, byte[][] SigningSecrets)
    {
        public static Keys From(MyKaarmaOptions options) => new(
            [.. IpNetworks.ParseAll(options.AllowedIps)],
            [.. options.AuthorizationTokens.Where(t => !string.IsNullOrEmpty(t))
                .Select(t => SHA256.HashData(Encoding.UTF8.GetBytes(t)))],
            [.. options.SigningSecrets.Where(s => !string.IsNullOrEmpty(s)).Select(s => Encoding.UTF8.GetBytes(s))]);
    }
}

public enum SignatureCheck
{
    Valid,
    Missing,
    Malformed,
    Mismatch,
}
