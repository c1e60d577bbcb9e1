using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Aspire.Webhooks.Relay.Management;
using Aspire.Webhooks.Relay.Subscribers;
using Aspire.Webhooks.TestSupport;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;

namespace Aspire.Webhooks.Relay.Tests.Management;

/// <summary>Subscribers managed through the API, seen working by the events that reach (or do not reach) the sink.</summary>
[Collection(ServersCollection.Name)]
public sealed class SubscriberApiTests(RabbitMqServer rabbit, PostgresServer postgres) : IAsyncLifetime
{
    private const string OtherSecret = "whsec_dGhpcyBpcyBhbm90aGVyIHNlY3JldCBrZXk=";
    private readonly RelayScenario _scenario = new(rabbit, postgres);

    public Task InitializeAsync() => _scenario.InitializeAsync();

    public Task DisposeAsync() => _scenario.DisposeAsync();

    private SubscriberSink Sink => _scenario.Sink;

    [Fact]
    public async Task A_subscriber_created_through_the_api_receives_matching_events_signed_and_its_secret_is_never_listed()
    {
        var relay = await _scenario.StartRelayAsync(ManagementApi.Keys);
        var created = await relay.CreateSubscriberAsync(
            ManagementApi.Definition("crm", Sink.Url("/crm"), eventTypes: ["customers"]));
        Assert.Equal("crm", created.Name);
        Assert.Equal("active", created.State);
        Assert.False(created.ManagedByConfiguration);
        Assert.Equal(["customers"], created.Filter.EventTypes);

        var customer = Events.Fresh(SampleEvents.Customer);
        await _scenario.Sender.SendAsync(Events.Fresh(SampleEvents.Appointment));
        await _scenario.Sender.SendAsync(customer);

        var request = Assert.Single(await Eventually.ReturnsAsync(() => Task.FromResult(Sink.RequestsTo("/crm")), r => r.Count >= 1));
        Assert.Equal(customer.Id, request.Header("x-mykaarma-event-id"));
        Assert.True(request.IsSignedWith(RelayScenario.Secret));
        Assert.Equal(customer.Body, request.Body);
        await Eventually.ReturnsAsync(() => relay.ScalarAsync<long>("select count(*) from events"), n => n == 2);
        Assert.Single(Sink.RequestsTo("/crm"));

        using var client = relay.Client();
        foreach (var path in new[] { "/api/subscribers", $"/api/subscribers/{created.Id}" })
        {
            var body = await client.GetStringAsync(path);
            Assert.DoesNotContain("whsec_", body, StringComparison.Ordinal);
            Assert.DoesNotContain("\"secret\"", body, StringComparison.Ordinal);
        }

        var listed = await (await client.GetAsync("/api/subscribers")).ReadAsync<SubscriberResponse[]>(HttpStatusCode.OK);
        Assert.Equal(created.Id, Assert.Single(listed).Id);
    }

    [Fact]
    public async Task A_subscriber_created_without_a_secret_gets_one_generated_that_signs_its_deliveries()
    {
        var relay = await _scenario.StartRelayAsync(ManagementApi.Keys);
        var created = await relay.CreateSubscriberAsync(ManagementApi.Definition("generated", Sink.Url("/generated"), secret: null));
        using var client = relay.Client();

        var secret = await (await client.GetAsync($"/api/subscribers/{created.Id}/secret")).ReadAsync<SubscriberSecret>(HttpStatusCode.OK);
        Assert.StartsWith("whsec_", secret.Secret, StringComparison.Ordinal);
        Assert.Null(secret.PreviousSecret);

        await _scenario.Sender.SendAsync(Events.Fresh(SampleEvents.Customer));
        var request = (await Eventually.ReturnsAsync(() => Task.FromResult(Sink.RequestsTo("/generated")), r => r.Count >= 1))[0];
        Assert.True(request.IsSignedWith(secret.Secret));
    }

    [Fact]
    public async Task Bad_definitions_are_refused_naming_each_field()
    {
        var relay = await _scenario.StartRelayAsync(ManagementApi.Keys);
        using var client = relay.Client();

        async Task<string[]> Refused(string json)
        {
            using var content = new StringContent(json, Encoding.UTF8, "application/json");
            return await (await client.PostAsync("/api/subscribers", content)).InvalidFieldsAsync();
        }

        Assert.Equal(["name", "url"], await Refused("""{ "url": "not a url" }"""));
        Assert.Equal(["filter.eventTypes", "retry.maxAttempts"],
            await Refused("""{ "name": "x", "url": "http://example.com/", "filter": { "eventTypes": ["orders"] }, "retry": { "maxAttempts": 0 } }"""));
        Assert.Equal(["secret"], await Refused("""{ "name": "x", "url": "http://example.com/", "secret": "hunter2" }"""));
        Assert.Equal(["ordering", "rateLimitPerSecond"],
            await Refused("""{ "name": "x", "url": "http://example.com/", "ordering": "ByDealer", "rateLimitPerSecond": -1 }"""));
        // A misspelt rule would otherwise be dropped, and the subscriber would get every event.
        Assert.Equal(["filter.eventType"], await Refused("""{ "name": "x", "url": "http://example.com/", "filter": { "eventType": ["customers"] } }"""));
        Assert.Equal(["retry.baseDelay"], await Refused("""{ "name": "x", "url": "http://example.com/", "retry": { "baseDelay": "soon" } }"""));
        Assert.Equal(["body"], await Refused(""));
        Assert.Equal(["body"], await Refused("[1, 2"));

        Assert.Empty(await (await client.GetAsync("/api/subscribers")).ReadAsync<JsonElement[]>(HttpStatusCode.OK));
    }

    [Fact]
    public async Task Urls_to_private_networks_and_plain_http_are_refused_unless_allowed()
    {
        var relay = await _scenario.StartRelayAsync(ManagementApi.Keys.Concat(
        [
            new("Relay:AllowPrivateNetworkTargets", "false"),
            new("Relay:RequireHttps", "true"),
        ]));
        using var client = relay.Client();

        foreach (var url in new[] { "https://127.0.0.1/hook", "https://10.1.2.3/hook", "https://169.254.169.254/latest", "http://example.com/hook" })
        {
            using var response = await client.PostAsJsonAsync("/api/subscribers", new { name = "x", url });
            var problem = await response.ProblemAsync(HttpStatusCode.BadRequest);
            var message = Assert.Single(problem.GetProperty("errors").GetProperty("url").EnumerateArray()).GetString();
            Assert.Contains(url.StartsWith("http:", StringComparison.Ordinal) ? "must be https" : "is refused", message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_url_whose_host_the_resolver_fails_on_is_refused_naming_the_url()
    {
        var resolver = new FakeHostResolver().Fail("odd.example", new ArgumentException("The host name is not valid."));
        var relay = _scenario.Own(new RelayHost(rabbit.ConnectionString, _scenario.Database, _scenario.Queue,
                ManagementApi.Keys.Append(new("Relay:AllowPrivateNetworkTargets", "false"))))
            .WithWebHostBuilder(builder => builder.ConfigureTestServices(services => services.AddSingleton<HostResolver>(resolver)));
        using var client = relay.CreateClient();
        await Eventually.ReturnsAsync(async () =>
        {
            using var health = await client.GetAsync("/health");
            return health.StatusCode;
        }, status => status == HttpStatusCode.OK, because: "the Relay becomes healthy");
        client.DefaultRequestHeaders.Add("X-Api-Key", ManagementApi.AdminKey);

        using var response = await client.PostAsJsonAsync("/api/subscribers", ManagementApi.Definition("odd", new Uri("https://odd.example/hooks")));

        var problem = await response.ProblemAsync(HttpStatusCode.BadRequest);
        var message = Assert.Single(problem.GetProperty("errors").GetProperty("url").EnumerateArray()).GetString();
        Assert.Equal("Url is refused: the host 'odd.example' could not be resolved: The host name is not valid.", message);
        Assert.Equal(1, resolver.Lookups);
        Assert.Equal(0L, await _scenario.ScalarAsync<long>("select count(*) from subscribers"));
    }

    [Fact]
    public async Task Names_are_unique()
    {
        var relay = await _scenario.StartRelayAsync(ManagementApi.Keys);
        var first = await relay.CreateSubscriberAsync(ManagementApi.Definition("one", Sink.Url("/one")));
        await relay.CreateSubscriberAsync(ManagementApi.Definition("two", Sink.Url("/two")));
        using var client = relay.Client();

        var problem = await (await client.PostAsJsonAsync("/api/subscribers", ManagementApi.Definition("one", Sink.Url("/again"))))
            .ProblemAsync(HttpStatusCode.Conflict);
        Assert.Equal("name", problem.GetProperty("field").GetString());

        problem = await (await client.PutAsJsonAsync($"/api/subscribers/{first.Id}", ManagementApi.Definition("two", Sink.Url("/one"))))
            .ProblemAsync(HttpStatusCode.Conflict);
        Assert.Equal("name", problem.GetProperty("field").GetString());
    }

    [Fact]
    public async Task Put_replaces_the_definition_keeping_the_secret_when_none_is_given()
    {
        var relay = await _scenario.StartRelayAsync(ManagementApi.Keys);
        var created = await relay.CreateSubscriberAsync(ManagementApi.Definition("moving", Sink.Url("/old"), eventTypes: ["appointments"]));
        using var client = relay.Client();

        var replaced = await (await client.PutAsJsonAsync($"/api/subscribers/{created.Id}",
                ManagementApi.Definition("moved", Sink.Url("/new"), secret: null, eventTypes: ["customers"])))
            .ReadAsync<SubscriberResponse>(HttpStatusCode.OK);
        Assert.Equal(created.Id, replaced.Id);
        Assert.Equal("moved", replaced.Name);
        Assert.Equal(["customers"], replaced.Filter.EventTypes);
        await Eventually.ReturnsAsync(() => Task.FromResult(relay.Services.GetRequiredService<SubscriberCache>().Current),
            current => current.Any(s => s.Name == "moved"), because: "the routing table has the new definition");

        await _scenario.Sender.SendAsync(Events.Fresh(SampleEvents.Customer));
        var request = (await Eventually.ReturnsAsync(() => Task.FromResult(Sink.RequestsTo("/new")), r => r.Count >= 1))[0];
        Assert.True(request.IsSignedWith(RelayScenario.Secret));
        Assert.Empty(Sink.RequestsTo("/old"));

        Assert.Equal("id", (await (await client.PutAsJsonAsync($"/api/subscribers/{Guid.NewGuid()}",
            ManagementApi.Definition("ghost", Sink.Url("/ghost")))).ProblemAsync(HttpStatusCode.NotFound)).GetProperty("field").GetString());
        Assert.Equal(["url"], await (await client.PutAsJsonAsync($"/api/subscribers/{created.Id}",
            new { name = "moved", url = "ftp://example.com/" })).InvalidFieldsAsync());
    }

    [Fact]
    public async Task Put_with_a_secret_during_a_rotation_overlap_makes_it_the_only_one_that_signs()
    {
        var relay = await _scenario.StartRelayAsync(ManagementApi.Keys);
        var created = await relay.CreateSubscriberAsync(ManagementApi.Definition("replaced", Sink.Url("/replaced")));
        using var client = relay.Client();
        var rotated = await (await client.PostAsJsonAsync($"/api/subscribers/{created.Id}/rotate-secret", new { overlap = "02:00:00" }))
            .ReadAsync<SubscriberSecret>(HttpStatusCode.OK);
        Assert.Equal(RelayScenario.Secret, rotated.PreviousSecret);

        // Without a secret the rotation goes on: both still sign.
        var kept = await (await client.PutAsJsonAsync($"/api/subscribers/{created.Id}",
            ManagementApi.Definition("replaced", Sink.Url("/replaced"), secret: null))).ReadAsync<SubscriberResponse>(HttpStatusCode.OK);
        Assert.NotNull(kept.PreviousSecretExpiresAt);
        Assert.Equal(rotated, await (await client.GetAsync($"/api/subscribers/{created.Id}/secret")).ReadAsync<SubscriberSecret>(HttpStatusCode.OK));

        var replaced = await (await client.PutAsJsonAsync($"/api/subscribers/{created.Id}",
            ManagementApi.Definition("replaced", Sink.Url("/replaced"), secret: OtherSecret))).ReadAsync<SubscriberResponse>(HttpStatusCode.OK);

        Assert.Null(replaced.PreviousSecretExpiresAt);
        Assert.Equal(new SubscriberSecret(OtherSecret, null, null),
            await (await client.GetAsync($"/api/subscribers/{created.Id}/secret")).ReadAsync<SubscriberSecret>(HttpStatusCode.OK));
        Assert.Equal(0L, await relay.ScalarAsync<long>(
            "select count(*) from subscribers where id = $1 and (previous_secret is not null or previous_secret_expires_at is not null)", created.Id));
        await Eventually.ReturnsAsync(() => Task.FromResult(relay.Services.GetRequiredService<SubscriberCache>().Current.Single()),
            s => s.Secret == OtherSecret, because: "the lanes sign with the given secret");
        await _scenario.Sender.SendAsync(Events.Fresh(SampleEvents.Customer));
        var request = (await Eventually.ReturnsAsync(() => Task.FromResult(Sink.RequestsTo("/replaced")), r => r.Count >= 1))[0];
        Assert.Single(request.Header("webhook-signature").Split(' '));
        Assert.True(request.IsSignedWith(OtherSecret));
        Assert.False(request.IsSignedWith(rotated.Secret));
        Assert.False(request.IsSignedWith(RelayScenario.Secret));
    }

    [Fact]
    public async Task Pause_holds_deliveries_and_resume_sends_them()
    {
        var relay = await _scenario.StartRelayAsync(ManagementApi.Keys);
        var created = await relay.CreateSubscriberAsync(ManagementApi.Definition("pausable", Sink.Url("/pausable")));
        using var client = relay.Client();

        var paused = await (await client.PostAsync($"/api/subscribers/{created.Id}/pause", null)).ReadAsync<SubscriberResponse>(HttpStatusCode.OK);
        Assert.Equal("paused", paused.State);
        Assert.Equal("paused through the management API", paused.StateReason);
        await Eventually.ReturnsAsync(() => Task.FromResult(relay.Services.GetRequiredService<SubscriberCache>().Current.Single()),
            s => s.State == SubscriberState.Paused, because: "the dispatcher has seen the pause");

        await _scenario.Sender.SendAsync(Events.Fresh(SampleEvents.Customer));
        await Eventually.ReturnsAsync(() => relay.ScalarAsync<long>("select count(*) from deliveries where status = 'pending'"), n => n == 1);
        // Longer than the poll interval (500 ms): a lane would have claimed it by now.
        await Task.Delay(TimeSpan.FromSeconds(1));
        Assert.Empty(Sink.Requests);

        var resumed = await (await client.PostAsync($"/api/subscribers/{created.Id}/resume", null)).ReadAsync<SubscriberResponse>(HttpStatusCode.OK);
        Assert.Equal("active", resumed.State);
        Assert.Null(resumed.StateReason);
        await Eventually.ReturnsAsync(() => Task.FromResult(Sink.RequestsTo("/pausable")), r => r.Count >= 1);
        await Eventually.ReturnsAsync(() => relay.ScalarAsync<string>("select status from deliveries"), s => s == "delivered");
    }

    [Fact]
    public async Task Resume_re_enables_a_disabled_subscriber_clearing_why_and_since_when_it_failed()
    {
        var relay = await _scenario.StartRelayAsync(ManagementApi.Keys);
        var created = await relay.CreateSubscriberAsync(ManagementApi.Definition("revived", Sink.Url("/revived")));
        await relay.ScalarAsync<int>("update subscribers set failing_since = now() - interval '1 day' where id = $1 returning 1", created.Id);
        // Disabled the way auto-disable does it, so every lane hears of it.
        Assert.True(await relay.Services.GetRequiredService<SubscriberStore>().DisableAsync(created.Id, "failing for 24 h", null, CancellationToken.None));
        await Eventually.ReturnsAsync(() => Task.FromResult(relay.Services.GetRequiredService<SubscriberCache>().Current.Single()),
            s => s.State == SubscriberState.Disabled, because: "the dispatcher has seen the subscriber disabled");
        using var client = relay.Client();
        var disabled = await (await client.GetAsync($"/api/subscribers/{created.Id}")).ReadAsync<SubscriberResponse>(HttpStatusCode.OK);
        Assert.Equal(("disabled", "failing for 24 h"), (disabled.State, disabled.StateReason));
        Assert.NotNull(disabled.FailingSince);

        // Events keep coming while it is disabled: their deliveries are kept, waiting.
        var held = new[] { Events.Fresh(SampleEvents.Customer), Events.Fresh(SampleEvents.Appointment) };
        foreach (var e in held)
        {
            await _scenario.Sender.SendAsync(e);
        }

        await Eventually.ReturnsAsync(() => relay.ScalarAsync<long>("select count(*) from deliveries where status = 'pending'"), n => n == 2,
            because: "the disabled subscriber's deliveries are stored");
        Assert.Equal(0L, await relay.ScalarAsync<long>("select count(*) from delivery_attempts"));

        var resumed = await (await client.PostAsync($"/api/subscribers/{created.Id}/resume", null)).ReadAsync<SubscriberResponse>(HttpStatusCode.OK);

        Assert.Equal("active", resumed.State);
        Assert.Null(resumed.StateReason);
        Assert.Null(resumed.FailingSince);
        await Eventually.ReturnsAsync(() => relay.ScalarAsync<long>("select count(*) from deliveries where status = 'delivered'"), n => n == 2,
            because: "the held deliveries go out once the subscriber is resumed");
        Assert.Equal(held.Select(e => e.Id).Order(), Sink.RequestsTo("/revived").Select(r => r.Header("x-mykaarma-event-id")).Order());
    }

    [Fact]
    public async Task Delete_removes_the_subscriber_and_its_deliveries_and_it_gets_nothing_more()
    {
        var relay = await _scenario.StartRelayAsync(ManagementApi.Keys);
        var doomed = await relay.CreateSubscriberAsync(ManagementApi.Definition("doomed", Sink.Url("/doomed")));
        var kept = await relay.CreateSubscriberAsync(ManagementApi.Definition("kept", Sink.Url("/kept")));
        await _scenario.Sender.SendAsync(Events.Fresh(SampleEvents.Customer));
        await Eventually.ReturnsAsync(() => Task.FromResult(Sink.Requests.Count), n => n == 2);
        using var client = relay.Client();

        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"/api/subscribers/{doomed.Id}")).StatusCode);

        await (await client.GetAsync($"/api/subscribers/{doomed.Id}")).ProblemAsync(HttpStatusCode.NotFound);
        await (await client.DeleteAsync($"/api/subscribers/{doomed.Id}")).ProblemAsync(HttpStatusCode.NotFound);
        Assert.Equal(0L, await relay.ScalarAsync<long>("select count(*) from deliveries where subscriber_id = $1", doomed.Id));
        await Eventually.ReturnsAsync(() => Task.FromResult(relay.Services.GetRequiredService<SubscriberCache>().Current),
            current => current.All(s => s.Id != doomed.Id), because: "the routing table has dropped the subscriber");

        await _scenario.Sender.SendAsync(Events.Fresh(SampleEvents.Customer));
        await Eventually.ReturnsAsync(() => Task.FromResult(Sink.RequestsTo("/kept")), r => r.Count == 2);
        Assert.Single(Sink.RequestsTo("/doomed"));
        Assert.Equal(kept.Id, Assert.Single(await (await client.GetAsync("/api/subscribers")).ReadAsync<SubscriberResponse[]>(HttpStatusCode.OK)).Id);
    }

    [Fact]
    public async Task Subscribers_from_configuration_are_listed_as_such_and_cannot_be_changed_through_the_api()
    {
        var relay = await _scenario.StartRelayAsync(new SubscriberConfig()
            .Add("configured", Sink.Url("/configured"), RelayScenario.Secret).Settings.Concat(ManagementApi.Keys));
        using var client = relay.Client();

        var configured = Assert.Single(await (await client.GetAsync("/api/subscribers")).ReadAsync<SubscriberResponse[]>(HttpStatusCode.OK));
        Assert.True(configured.ManagedByConfiguration);
        Assert.True(configured.SecretFromConfiguration);

        var put = await (await client.PutAsJsonAsync($"/api/subscribers/{configured.Id}",
            ManagementApi.Definition("configured", Sink.Url("/elsewhere")))).ProblemAsync(HttpStatusCode.Conflict);
        Assert.Contains("Relay:Subscribers", put.GetProperty("detail").GetString(), StringComparison.Ordinal);
        var delete = await (await client.DeleteAsync($"/api/subscribers/{configured.Id}")).ProblemAsync(HttpStatusCode.Conflict);
        Assert.Contains("Relay:Subscribers", delete.GetProperty("detail").GetString(), StringComparison.Ordinal);
        var rotate = await (await client.PostAsync($"/api/subscribers/{configured.Id}/rotate-secret", null)).ProblemAsync(HttpStatusCode.Conflict);
        Assert.Equal("secret", rotate.GetProperty("field").GetString());

        var unchanged = await (await client.GetAsync($"/api/subscribers/{configured.Id}/secret")).ReadAsync<SubscriberSecret>(HttpStatusCode.OK);
        Assert.Equal(RelayScenario.Secret, unchanged.Secret);
        Assert.Equal(configured.Url, (await (await client.GetAsync($"/api/subscribers/{configured.Id}")).ReadAsync<SubscriberResponse>(HttpStatusCode.OK)).Url);

        // Its state is not configuration: it may be paused like any other.
        Assert.Equal("paused", (await (await client.PostAsync($"/api/subscribers/{configured.Id}/pause", null))
            .ReadAsync<SubscriberResponse>(HttpStatusCode.OK)).State);
    }

    [Fact]
    public async Task A_subscriber_taken_out_of_configuration_is_kept_and_managed_through_the_api_from_the_next_start()
    {
        var first = await _scenario.StartRelayAsync(new SubscriberConfig()
            .Add("staying", Sink.Url("/staying"), RelayScenario.Secret)
            .Add("leaving", Sink.Url("/leaving"), RelayScenario.Secret).Settings.Concat(ManagementApi.Keys));
        await _scenario.Sender.SendAsync(Events.Fresh(SampleEvents.Customer));
        await Eventually.ReturnsAsync(() => first.ScalarAsync<long>("select count(*) from deliveries where status = 'delivered'"), n => n == 2);
        var leavingId = await first.ScalarAsync<Guid>("select id from subscribers where name = 'leaving'");
        await first.DisposeAsync();

        var relay = await _scenario.StartRelayAsync(new SubscriberConfig()
            .Add("staying", Sink.Url("/staying"), RelayScenario.Secret).Settings.Concat(ManagementApi.Keys));
        using var client = relay.Client();

        var listed = await (await client.GetAsync("/api/subscribers")).ReadAsync<SubscriberResponse[]>(HttpStatusCode.OK);
        Assert.Equal([("leaving", false, false), ("staying", true, true)],
            listed.Select(s => (s.Name, s.ManagedByConfiguration, s.SecretFromConfiguration)));
        var leaving = listed.Single(s => s.Name == "leaving");
        Assert.Equal(leavingId, leaving.Id);
        Assert.Equal(1L, await relay.ScalarAsync<long>("select count(*) from deliveries where subscriber_id = $1", leavingId));

        // Released, it may be changed, rotated and deleted like any subscriber made through the API.
        var changed = await (await client.PutAsJsonAsync($"/api/subscribers/{leavingId}",
            ManagementApi.Definition("leaving", Sink.Url("/moved"), secret: null))).ReadAsync<SubscriberResponse>(HttpStatusCode.OK);
        Assert.Equal(Sink.Url("/moved").ToString(), changed.Url);
        await (await client.PostAsJsonAsync($"/api/subscribers/{leavingId}/rotate-secret", new { overlap = "00:00:00" }))
            .ReadAsync<SubscriberSecret>(HttpStatusCode.OK);
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"/api/subscribers/{leavingId}")).StatusCode);

        var staying = Assert.Single(await (await client.GetAsync("/api/subscribers")).ReadAsync<SubscriberResponse[]>(HttpStatusCode.OK));
        Assert.True(staying.ManagedByConfiguration);
        await (await client.DeleteAsync($"/api/subscribers/{staying.Id}")).ProblemAsync(HttpStatusCode.Conflict);
    }

    [Fact]
    public async Task Rotating_the_secret_signs_with_the_new_one_and_keeps_the_previous_for_the_overlap()
    {
        var relay = await _scenario.StartRelayAsync(ManagementApi.Keys);
        var created = await relay.CreateSubscriberAsync(ManagementApi.Definition("rotating", Sink.Url("/rotating")));
        using var client = relay.Client();

        var started = DateTimeOffset.UtcNow;
        var rotated = await (await client.PostAsJsonAsync($"/api/subscribers/{created.Id}/rotate-secret", new { overlap = "02:00:00" }))
            .ReadAsync<SubscriberSecret>(HttpStatusCode.OK);
        Assert.StartsWith("whsec_", rotated.Secret, StringComparison.Ordinal);
        Assert.NotEqual(RelayScenario.Secret, rotated.Secret);
        Assert.Equal(RelayScenario.Secret, rotated.PreviousSecret);

        var secret = await (await client.GetAsync($"/api/subscribers/{created.Id}/secret")).ReadAsync<SubscriberSecret>(HttpStatusCode.OK);
        Assert.Equal(rotated.Secret, secret.Secret);
        Assert.Equal(RelayScenario.Secret, secret.PreviousSecret);
        Assert.InRange(secret.PreviousSecretExpiresAt!.Value, started.AddHours(2).AddSeconds(-5), DateTimeOffset.UtcNow.AddHours(2).AddSeconds(5));
        var shown = await (await client.GetAsync($"/api/subscribers/{created.Id}")).ReadAsync<SubscriberResponse>(HttpStatusCode.OK);
        Assert.Equal(secret.PreviousSecretExpiresAt, shown.PreviousSecretExpiresAt);

        await Eventually.ReturnsAsync(() => Task.FromResult(relay.Services.GetRequiredService<SubscriberCache>().Current.Single()),
            s => s.Secret == rotated.Secret, because: "the lanes sign with the new secret");
        await _scenario.Sender.SendAsync(Events.Fresh(SampleEvents.Customer));
        var request = (await Eventually.ReturnsAsync(() => Task.FromResult(Sink.RequestsTo("/rotating")), r => r.Count >= 1))[0];
        // During the overlap both secrets sign, the new one first.
        Assert.Equal(2, request.Header("webhook-signature").Split(' ').Length);
        Assert.True(request.IsSignedWith(rotated.Secret));
        Assert.True(request.IsSignedWith(RelayScenario.Secret));

        // A given secret, no overlap: the previous one stops signing at once.
        var given = await (await client.PostAsJsonAsync($"/api/subscribers/{created.Id}/rotate-secret", new { secret = OtherSecret, overlap = "00:00:00" }))
            .ReadAsync<SubscriberSecret>(HttpStatusCode.OK);
        Assert.Equal(new SubscriberSecret(OtherSecret, null, null), given);

        await Eventually.ReturnsAsync(() => Task.FromResult(relay.Services.GetRequiredService<SubscriberCache>().Current.Single()),
            s => s.Secret == OtherSecret, because: "the lanes sign with the given secret");
        await _scenario.Sender.SendAsync(Events.Fresh(SampleEvents.Customer));
        var after = (await Eventually.ReturnsAsync(() => Task.FromResult(Sink.RequestsTo("/rotating")), r => r.Count >= 2))[1];
        Assert.Single(after.Header("webhook-signature").Split(' '));
        Assert.True(after.IsSignedWith(OtherSecret));
        Assert.False(after.IsSignedWith(rotated.Secret));

        Assert.Equal(["secret"], await (await client.PostAsJsonAsync($"/api/subscribers/{created.Id}/rotate-secret", new { secret = "short" })).InvalidFieldsAsync());
        Assert.Equal(["overlap"], await (await client.PostAsJsonAsync($"/api/subscribers/{created.Id}/rotate-secret", new { overlap = "8.00:00:00" })).InvalidFieldsAsync());
        Assert.Equal(OtherSecret,
            (await (await client.GetAsync($"/api/subscribers/{created.Id}/secret")).ReadAsync<SubscriberSecret>(HttpStatusCode.OK)).Secret);
    }

    [Fact]
    public async Task A_test_event_reaches_the_subscriber_signed_and_its_answer_is_reported()
    {
        var relay = await _scenario.StartRelayAsync(ManagementApi.Keys);
        var created = await relay.CreateSubscriberAsync(ManagementApi.Definition("tested", Sink.Url("/tested")));
        using var client = relay.Client();

        var result = await (await client.PostAsync($"/api/subscribers/{created.Id}/test", null)).ReadAsync<TestEventResult>(HttpStatusCode.OK);

        Assert.True(result.Succeeded);
        Assert.Equal(200, result.StatusCode);
        Assert.Equal("answer 200 to request 1", result.ResponseExcerpt);
        var request = Assert.Single(Sink.RequestsTo("/tested"));
        Assert.True(request.IsSignedWith(RelayScenario.Secret));
        Assert.Equal("test", request.Header("x-mykaarma-event-type"));
        Assert.Equal(result.WebhookId, request.Header("webhook-id"));
        using var body = JsonDocument.Parse(request.Body);
        Assert.Equal("tested", body.RootElement.GetProperty("subscriber").GetString());
        Assert.Equal(0L, await relay.ScalarAsync<long>("select count(*) from deliveries"));

        Sink.Respond = (_, _) => (HttpStatusCode.ServiceUnavailable, null);
        var failed = await (await client.PostAsync($"/api/subscribers/{created.Id}/test", null)).ReadAsync<TestEventResult>(HttpStatusCode.OK);
        Assert.False(failed.Succeeded);
        Assert.Equal(503, failed.StatusCode);
    }

    [Fact]
    public async Task Unknown_subscriber_ids_are_404_naming_the_id()
    {
        var relay = await _scenario.StartRelayAsync(ManagementApi.Keys);
        using var client = relay.Client();
        var id = Guid.NewGuid();

        foreach (var request in new[]
        {
            new HttpRequestMessage(HttpMethod.Get, $"/api/subscribers/{id}"),
            new HttpRequestMessage(HttpMethod.Get, $"/api/subscribers/{id}/secret"),
            new HttpRequestMessage(HttpMethod.Get, $"/api/subscribers/{id}/stats"),
            new HttpRequestMessage(HttpMethod.Delete, $"/api/subscribers/{id}"),
            new HttpRequestMessage(HttpMethod.Post, $"/api/subscribers/{id}/pause"),
            new HttpRequestMessage(HttpMethod.Post, $"/api/subscribers/{id}/resume"),
            new HttpRequestMessage(HttpMethod.Post, $"/api/subscribers/{id}/rotate-secret"),
            new HttpRequestMessage(HttpMethod.Post, $"/api/subscribers/{id}/test"),
        })
        {
            var problem = await (await client.SendAsync(request)).ProblemAsync(HttpStatusCode.NotFound);
            Assert.Equal("id", problem.GetProperty("field").GetString());
            Assert.Contains(id.ToString(), problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }

        // Not an id at all: no such route.
        await (await client.GetAsync("/api/subscribers/crm")).ProblemAsync(HttpStatusCode.NotFound);
    }
}
