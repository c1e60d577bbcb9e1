using System.Security.Cryptography;
using System.Text;
using Aspire.Webhooks.Relay.Subscribers;
using Aspire.Webhooks.TestSupport;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using StandardWebhooks;
using StandardWebhooks.Diagnostics;

namespace Aspire.Webhooks.Relay.Tests;

/// <summary>Secret rotation: during the overlap both secrets sign each request; after it, only the current one.</summary>
[Collection(ServersCollection.Name)]
public sealed class SigningTests(RabbitMqServer rabbit, PostgresServer postgres) : IAsyncLifetime
{
    private static readonly string Previous = SigningSecret.Generate();
    private readonly RelayScenario _scenario = new(rabbit, postgres);

    public Task InitializeAsync() => _scenario.InitializeAsync();

    public Task DisposeAsync() => _scenario.DisposeAsync();

    [Fact]
    public async Task During_the_overlap_both_secrets_sign_and_after_it_only_the_current_one()
    {
        var sink = _scenario.Sink;
        var relay = await _scenario.StartRelayAsync(new SubscriberConfig().Add("rotating", sink.Url("/rotating"), RelayScenario.Secret).Settings);

        await SetPreviousSecretExpiryAsync(relay, "now() + interval '1 hour'");
        var during = await DeliverOneAsync();

        var signatures = during.Header("webhook-signature").Split(' ');
        Assert.Equal([Signature(RelayScenario.Secret, during), Signature(Previous, during)], signatures);
        Verify(RelayScenario.Secret, during);
        // StandardWebhooks 1.1.2 stops after the first signature of a list (its loop ends when no space follows the
        // second), so each signature is also given to it on its own: each is a valid Standard Webhooks signature.
        Verify(RelayScenario.Secret, during, signatures[0]);
        Verify(Previous, during, signatures[1]);
        Assert.Throws<WebhookVerificationException>(() => Verify(Previous, during, signatures[0]));
        Assert.Throws<WebhookVerificationException>(() => Verify(SigningSecret.Generate(), during));

        await SetPreviousSecretExpiryAsync(relay, "now() - interval '1 second'");
        var after = await DeliverOneAsync();

        Assert.Equal(Signature(RelayScenario.Secret, after), after.Header("webhook-signature"));
        Verify(RelayScenario.Secret, after);
        Assert.Throws<WebhookVerificationException>(() => Verify(Previous, after));
    }

    /// <summary>Sets the rotation columns as the management API would, and waits until the Relay has read them.</summary>
    private static async Task SetPreviousSecretExpiryAsync(RelayHost relay, string expiresAt)
    {
        await using var connection = new NpgsqlConnection(relay.Database);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"""
            with rotated as (
                update subscribers set previous_secret = $1, previous_secret_expires_at = {expiresAt}
                where name = 'rotating' returning previous_secret_expires_at
            )
            select previous_secret_expires_at, pg_notify('{SubscriberStore.ChangesChannel}', 'rotating') from rotated
            """, connection);
        command.Parameters.AddWithValue(Previous);
        var expiry = (DateTime)(await command.ExecuteScalarAsync())!;

        var cache = relay.Services.GetRequiredService<SubscriberCache>();
        await Eventually.ReturnsAsync(() => Task.FromResult(cache.Current.Single().PreviousSecretExpiresAt),
            seen => seen?.UtcDateTime == expiry, because: "the Relay re-reads the subscriber after the change");
    }

    private async Task<SinkRequest> DeliverOneAsync()
    {
        var sent = Events.Fresh(SampleEvents.Customer);
        await _scenario.Sender.SendAsync(sent);
        return await Eventually.ReturnsAsync(
            () => Task.FromResult(_scenario.Sink.RequestsTo("/rotating").SingleOrDefault(r => r.Header("x-mykaarma-event-id") == sent.Id)),
            r => r is not null) ?? throw new InvalidOperationException();
    }

    /// <summary>The signature computed here, independently of the Relay's signer.</summary>
    private static string Signature(string secret, SinkRequest request)
    {
        var key = Convert.FromBase64String(secret[SigningSecret.Prefix.Length..]);
        byte[] signed = [.. Encoding.UTF8.GetBytes($"{request.Header("webhook-id")}.{request.Header("webhook-timestamp")}."), .. request.Body];
        return "v1," + Convert.ToBase64String(HMACSHA256.HashData(key, signed));
    }

    /// <summary>As a subscriber would, with the off-the-shelf Standard Webhooks package; optionally one signature of the header.</summary>
    private static void Verify(string secret, SinkRequest request, string? signature = null)
    {
        var headers = new HeaderDictionary
        {
            ["webhook-id"] = request.Header("webhook-id"),
            ["webhook-timestamp"] = request.Header("webhook-timestamp"),
            ["webhook-signature"] = signature ?? request.Header("webhook-signature"),
        };

        new StandardWebhook(secret).Verify(Encoding.UTF8.GetString(request.Body), headers);
    }
}
