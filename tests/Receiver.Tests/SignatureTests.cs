using System.Net;
using System.Security.Cryptography;
using System.Text;
using Aspire.Webhooks.Receiver.Ingest;
using Microsoft.Extensions.Options;

namespace Aspire.Webhooks.Receiver.Tests;

public sealed class SignatureTests
{
    private static readonly byte[] Body = Encoding.UTF8.GetBytes("""{"id":"1","type":"customers"}""");

    private static RequestAuthenticator Authenticator(params string[] secrets) => new(new StaticOptions(new MyKaarmaOptions
    {
        AllowedIps = ["54.174.160.138", "10.1.0.0/16"],
        AuthorizationTokens = ["myKaarma_token-a", "myKaarma_token-b"],
        SigningSecrets = [.. secrets],
    }));

    private static string HexHmac(string secret, byte[] body) =>
        Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), body));

    [Fact]
    public void A_signature_made_with_the_secret_is_valid() =>
        Assert.Equal(SignatureCheck.Valid, Authenticator("s3cret").VerifySignature("sha256=" + HexHmac("s3cret", Body), Body));

    [Fact]
    public void A_signature_made_with_another_secret_is_refused() =>
        Assert.Equal(SignatureCheck.Mismatch, Authenticator("s3cret").VerifySignature("sha256=" + HexHmac("other", Body), Body));

    [Fact]
    public void A_signature_of_other_bytes_is_refused()
    {
        var tampered = Encoding.UTF8.GetBytes("""{"id":"2","type":"customers"}""");
        Assert.Equal(SignatureCheck.Mismatch, Authenticator("s3cret").VerifySignature("sha256=" + HexHmac("s3cret", Body), tampered));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    public void A_missing_signature_is_refused(string? header) =>
        Assert.Equal(SignatureCheck.Missing, Authenticator("s3cret").VerifySignature(header, Body));

    [Fact]
    public void During_rotation_both_the_new_and_the_old_secret_verify()
    {
        var authenticator = Authenticator("new-secret", "old-secret");
        Assert.Equal(SignatureCheck.Valid, authenticator.VerifySignature("sha256=" + HexHmac("new-secret", Body), Body));
        Assert.Equal(SignatureCheck.Valid, authenticator.VerifySignature("sha256=" + HexHmac("old-secret", Body), Body));
        Assert.Equal(SignatureCheck.Mismatch, Authenticator("new-secret").VerifySignature("sha256=" + HexHmac("old-secret", Body), Body));
    }

    [Theory]
    [InlineData("sha1=")]
    [InlineData("sha512=")]
    [InlineData("")]
    [InlineData("v1,")]
    public void A_wrong_prefix_is_malformed(string prefix) =>
        Assert.Equal(SignatureCheck.Malformed, Authenticator("s3cret").VerifySignature(prefix + HexHmac("s3cret", Body), Body));

    [Fact]
    public void Uppercase_hex_and_prefix_are_accepted()
    {
        var header = "SHA256=" + HexHmac("s3cret", Body).ToUpperInvariant();
        Assert.Equal(SignatureCheck.Valid, Authenticator("s3cret").VerifySignature(header, Body));
    }

    [Theory]
    [InlineData("sha256=abc")]
    [InlineData("sha256=zz")]
    public void Hex_of_the_wrong_length_or_alphabet_is_malformed(string header) =>
        Assert.Equal(SignatureCheck.Malformed, Authenticator("s3cret").VerifySignature(header, Body));

    [Fact]
    public void With_no_secret_configured_nothing_verifies() =>
        Assert.Equal(SignatureCheck.Mismatch, Authenticator().VerifySignature("sha256=" + HexHmac("", Body), Body));

    [Fact]
    public void Sign_produces_what_verification_accepts()
    {
        var header = RequestAuthenticator.Sign("s3cret", Body);
        Assert.StartsWith("sha256=", header, StringComparison.Ordinal);
        Assert.Equal(SignatureCheck.Valid, Authenticator("s3cret").VerifySignature(header, Body));
    }

    [Theory]
    [InlineData("myKaarma_token-a", true)]
    [InlineData("myKaarma_token-b", true)]
    [InlineData("myKaarma_token-c", false)]
    [InlineData("MYKAARMA_TOKEN-A", false)]
    [InlineData("", false)]
    [InlineData(null, false)]
    public void Only_configured_tokens_authorize(string? token, bool expected) =>
        Assert.Equal(expected, Authenticator("s3cret").IsAuthorized(token));

    [Theory]
    [InlineData("54.174.160.138", true)]
    [InlineData("::ffff:54.174.160.138", true)]
    [InlineData("10.1.200.3", true)]
    [InlineData("10.2.0.1", false)]
    [InlineData("54.174.160.139", false)]
    [InlineData("127.0.0.1", false)]
    public void Only_allowed_addresses_and_networks_pass(string address, bool expected) =>
        Assert.Equal(expected, Authenticator("s3cret").IsAllowedClient(IPAddress.Parse(address)));

    private sealed class StaticOptions(MyKaarmaOptions value) : IOptionsMonitor<MyKaarmaOptions>
    {
        public MyKaarmaOptions CurrentValue => value;

        public MyKaarmaOptions Get(string? name) => value;

        public IDisposable? OnChange(Action<MyKaarmaOptions, string?> listener) => null;
    }
}
