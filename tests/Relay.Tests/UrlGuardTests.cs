using Aspire.Webhooks.Relay.Subscribers;
using Aspire.Webhooks.TestSupport;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;

namespace Aspire.Webhooks.Relay.Tests;

/// <summary>The SSRF guard in a running Relay: at start for configured subscribers, and at every connection.</summary>
[Collection(ServersCollection.Name)]
public sealed class UrlGuardTests(RabbitMqServer rabbit, PostgresServer postgres) : IAsyncLifetime
{
    private const string ReboundHost = "hooks.partner.test";
    private readonly RelayScenario _scenario = new(rabbit, postgres);

    public Task InitializeAsync() => _scenario.InitializeAsync();

    public Task DisposeAsync() => _scenario.DisposeAsync();

    [Fact]
    public async Task A_Relay_with_subscribers_pointing_inside_refuses_to_start_naming_each_key()
    {
        var resolver = new FakeHostResolver().Map("crm.internal", "10.1.2.3");
        var settings = new SubscriberConfig()
            .Add("local", _scenario.Sink.Url("/local"), RelayScenario.Secret)
            .Add("internal", new Uri("http://crm.internal/hooks"), RelayScenario.Secret)
            .Settings.Append(new("Relay:AllowPrivateNetworkTargets", "false"));

        var failure = await Assert.ThrowsAnyAsync<Exception>(() => StartRelayAsync(resolver, settings));

        var message = failure.ToString();
        Assert.Contains("Relay:Subscribers:0 ('local'): Url is refused: the host '127.0.0.1' resolves to 127.0.0.1, a loopback address",
            message, StringComparison.Ordinal);
        Assert.Contains("Relay:Subscribers:1 ('internal'): Url is refused: the host 'crm.internal' resolves to 10.1.2.3, a private network address",
            message, StringComparison.Ordinal);
        Assert.Contains("Relay:AllowPrivateNetworkTargets", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_name_re_pointed_at_loopback_after_registration_gets_no_request_and_the_attempt_records_the_refusal()
    {
        // Public when the subscriber is registered at start; the sink's loopback address by the time the Relay connects.
        var resolver = new FakeHostResolver().Map(ReboundHost, "93.184.216.34");
        await StartRelayAsync(resolver, ReboundSubscriber(allowPrivate: false));
        resolver.Map(ReboundHost, "127.0.0.1");

        await _scenario.Sender.SendAsync(Events.Fresh(SampleEvents.Customer));

        var error = await Eventually.ReturnsAsync(
            () => _scenario.ScalarAsync<string?>("select error from delivery_attempts where attempt = 1"), e => e is not null,
            because: "the first attempt is recorded");
        Assert.Contains($"Refused to connect to '{ReboundHost}': it resolves to 127.0.0.1, a loopback address", error, StringComparison.Ordinal);
        Assert.Empty(_scenario.Sink.Requests);
        Assert.Equal("pending", await _scenario.ScalarAsync<string>("select status from deliveries"));
    }

    [Theory]
    [InlineData("10.1.2.3", false, "a private network address")]
    [InlineData("169.254.169.254", false, "a cloud metadata address")]
    [InlineData("169.254.169.254", true, "a cloud metadata address")]
    public async Task A_name_re_pointed_inside_after_registration_is_refused_at_connect_naming_the_address(string address,
        bool allowPrivate, string kind)
    {
        var resolver = new FakeHostResolver().Map(ReboundHost, "93.184.216.34");
        await StartRelayAsync(resolver, ReboundSubscriber(allowPrivate));
        resolver.Map(ReboundHost, address);

        await _scenario.Sender.SendAsync(Events.Fresh(SampleEvents.Customer));

        // Without the guard the attempt would try the address itself and fail, if at all, with a connection error.
        var error = await Eventually.ReturnsAsync(
            () => _scenario.ScalarAsync<string?>("select error from delivery_attempts where attempt = 1"), e => e is not null,
            because: "the first attempt is recorded");
        Assert.Contains($"Refused to connect to '{ReboundHost}': it resolves to {address}, {kind}", error, StringComparison.Ordinal);
        Assert.Equal("pending", await _scenario.ScalarAsync<string>("select status from deliveries"));
    }

    [Fact]
    public async Task The_same_re_pointed_name_reaches_the_sink_when_private_targets_are_allowed()
    {
        // The control for the test above: the name really leads to the sink, so only the guard kept the request away.
        var resolver = new FakeHostResolver().Map(ReboundHost, "93.184.216.34");
        await StartRelayAsync(resolver, ReboundSubscriber(allowPrivate: true));
        resolver.Map(ReboundHost, "127.0.0.1");

        await _scenario.Sender.SendAsync(Events.Fresh(SampleEvents.Customer));

        var request = (await Eventually.ReturnsAsync(() => Task.FromResult(_scenario.Sink.RequestsTo("/rebound")), r => r.Count >= 1))[0];
        Assert.Equal($"{ReboundHost}:{_scenario.Sink.BaseAddress.Port}", request.Header("host"));
    }

    private IEnumerable<KeyValuePair<string, string?>> ReboundSubscriber(bool allowPrivate) =>
        new SubscriberConfig()
            .Add("rebound", new Uri($"http://{ReboundHost}:{_scenario.Sink.BaseAddress.Port}/rebound"), RelayScenario.Secret)
            .Settings.Append(new("Relay:AllowPrivateNetworkTargets", allowPrivate ? "true" : "false"));

    /// <summary>A Relay of this scenario whose host names resolve through <paramref name="resolver"/>.</summary>
    private async Task<WebApplicationFactory<Delivery.RelayMetrics>> StartRelayAsync(HostResolver resolver,
        IEnumerable<KeyValuePair<string, string?>> settings)
    {
        var host = _scenario.Own(new RelayHost(rabbit.ConnectionString, _scenario.Database, _scenario.Queue, settings));
        var relay = host.WithWebHostBuilder(builder => builder.ConfigureTestServices(services => services.AddSingleton(resolver)));
        using var client = relay.CreateClient();
        await Eventually.ReturnsAsync(async () =>
        {
            using var response = await client.GetAsync("/health");
            return response.StatusCode;
        }, status => status == System.Net.HttpStatusCode.OK, because: "the Relay becomes healthy");
        return relay;
    }
}
