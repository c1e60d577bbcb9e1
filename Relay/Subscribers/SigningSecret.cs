using System.Security.Cryptography;

namespace Aspire.Webhooks.Relay.Subscribers;

/// <summary>Standard Webhooks secrets: <c>whsec_</c> followed by the base64 of the HMAC key.</summary>
public static class SigningSecret
{
    public const string Prefix = "whsec_";

    public static string Generate() => Prefix + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    public static bool TryGetKey(string? secret, out byte[] key)
    {
        key = [];
        if (string.IsNullOrWhiteSpace(secret))
        {
            return false;
        }

        var encoded = secret.StartsWith(Prefix, StringComparison.Ordinal) ? secret[Prefix.Length..] : secret;
        try
        {
            key = Convert.FromBase64String(encoded);
            return key.Length >= 16;
        }
        catch (FormatException)
        {
            return false;
        }
    }

    public static byte[] Key(string secret) =>
        TryGetKey(secret, out var key) ? key : throw new FormatException("A signing secret must be whsec_ followed by base64 of at least 16 bytes.");
}
