using System.Security.Cryptography;
using System.Text;
using Aspire.Webhooks.Relay.Subscribers;

namespace Aspire.Webhooks.Relay.Delivery;

/// <summary>Standard Webhooks signatures: <c>v1,</c> + base64 HMAC-SHA256 of <c>{id}.{timestamp}.{body}</c>.</summary>
public static class WebhookSigner
{
    public static string Sign(byte[] key, string webhookId, long timestampSeconds, ReadOnlySpan<byte> body)
    {
        var prefix = Encoding.UTF8.GetBytes($"{webhookId}.{timestampSeconds}.");
        using var hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, key);
        hmac.AppendData(prefix);
        hmac.AppendData(body);
        return "v1," + Convert.ToBase64String(hmac.GetHashAndReset());
    }

    /// <summary>
    /// The <c>webhook-signature</c> value: one signature per secret, space-separated, as Standard Webhooks allows so
    /// that a subscriber verifying with either the new or the previous secret accepts the request during a rotation.
    /// </summary>
    public static string Sign(IReadOnlyList<string> secrets, string webhookId, long timestampSeconds, ReadOnlySpan<byte> body)
    {
        var signatures = new string[secrets.Count];
        for (var i = 0; i < secrets.Count; i++)
        {
            signatures[i] = Sign(SigningSecret.Key(secrets[i]), webhookId, timestampSeconds, body);
        }

        return string.Join(' ', signatures);
    }
}
