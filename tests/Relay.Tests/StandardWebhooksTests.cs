using System.Text;
using Aspire.Webhooks.TestSupport;
using Microsoft.AspNetCore.Http;
using StandardWebhooks;
using StandardWebhooks.Diagnostics;

namespace Aspire.Webhooks.Relay.Tests;

/// <summary>Subscribers verify with off-the-shelf Standard Webhooks libraries, not with our code.</summary>
[Collection(ServersCollection.Name)]
public sealed class StandardWebhooksTests(RabbitMqServer rabbit, PostgresServer postgres) : IAsyncLifetime
{
    private readonly RelayScenario _scenario = new(rabbit, postgres);

    public Task InitializeAsync() => _scenario.InitializeAsync();

    public Task DisposeAsync() => _scenario.DisposeAsync();

    [Fact]
    public async Task A_delivered_request_verifies_with_the_StandardWebhooks_package_under_the_subscribers_secret()
    {
        var sink = _scenario.Sink;
        await _scenario.StartRelayAsync(new SubscriberConfig().Add("verifier", sink.Url("/verify"), RelayScenario.Secret).Settings);

        await _scenario.Sender.SendAsync(Events.Sample(SampleEvents.Appointment));

        var request = (await Eventually.ReturnsAsync(() => Task.FromResult(sink.RequestsTo("/verify")), r => r.Count >= 1))[0];
        var headers = new HeaderDictionary();
        foreach (var name in new[] { "webhook-id", "webhook-timestamp", "webhook-signature" })
        {
            headers[name] = request.Header(name);
        }

        var payload = Encoding.UTF8.GetString(request.Body);
        new StandardWebhook(RelayScenario.Secret).Verify(payload, headers);

        // The verifier is not vacuous: another secret or one changed byte fails it.
        Assert.Throws<WebhookVerificationException>(() =>
            new StandardWebhook("whsec_" + Convert.ToBase64String(new byte[24])).Verify(payload, headers));
        Assert.Throws<WebhookVerificationException>(() =>
            new StandardWebhook(RelayScenario.Secret).Verify(payload.Replace('"', '\''), headers));
    }
}
