using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Aspire.Webhooks.TestSupport;

namespace Aspire.Webhooks.Relay.Tests.Management;

/// <summary>Who may call the management API, and what its OpenAPI document tells a client about it.</summary>
[Collection(ServersCollection.Name)]
public sealed class ApiAuthenticationTests(RabbitMqServer rabbit, PostgresServer postgres) : IAsyncLifetime
{
    private readonly RelayScenario _scenario = new(rabbit, postgres);

    public Task InitializeAsync() => _scenario.InitializeAsync();

    public Task DisposeAsync() => _scenario.DisposeAsync();

    [Fact]
    public async Task Without_a_known_key_every_api_request_is_401_naming_the_header_and_health_and_the_reference_stay_open()
    {
        var relay = await _scenario.StartRelayAsync(ManagementApi.Keys);

        using (var anonymous = relay.Client(key: null))
        {
            var problem = await (await anonymous.GetAsync("/api/subscribers")).ProblemAsync(HttpStatusCode.Unauthorized);
            Assert.Equal("X-Api-Key", problem.GetProperty("header").GetString());
            Assert.Contains("missing", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
            await (await anonymous.PostAsJsonAsync("/api/subscribers", new { })).ProblemAsync(HttpStatusCode.Unauthorized);

            Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/health")).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/openapi/v1.json")).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/scalar")).StatusCode);
        }

        foreach (var wrong in new[] { "not-a-configured-key-at-all", ManagementApi.AdminKey + "x", ManagementApi.AdminKey[..^1] })
        {
            using var client = relay.Client(wrong);
            var problem = await (await client.GetAsync("/api/stats")).ProblemAsync(HttpStatusCode.Unauthorized);
            Assert.Contains("not one of the configured API keys", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }

        using var admin = relay.Client();
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/api/subscribers")).StatusCode);
    }

    [Fact]
    public async Task A_read_only_key_reads_but_every_write_and_the_secret_are_403()
    {
        var relay = await _scenario.StartRelayAsync(ManagementApi.Keys);
        var subscriber = await relay.CreateSubscriberAsync(ManagementApi.Definition("watched", _scenario.Sink.Url("/watched")));
        using var reader = relay.Client(ManagementApi.ReadOnlyKey);

        Assert.Equal(HttpStatusCode.OK, (await reader.GetAsync("/api/subscribers")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await reader.GetAsync($"/api/subscribers/{subscriber.Id}")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await reader.GetAsync("/api/deliveries")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await reader.GetAsync("/api/stats")).StatusCode);

        var writes = new[]
        {
            ManagementApi.Post("/api/subscribers", null, ManagementApi.Definition("other", _scenario.Sink.Url("/other"))),
            new HttpRequestMessage(HttpMethod.Put, $"/api/subscribers/{subscriber.Id}")
            {
                Content = JsonContent.Create(ManagementApi.Definition("watched", _scenario.Sink.Url("/elsewhere"))),
            },
            new HttpRequestMessage(HttpMethod.Delete, $"/api/subscribers/{subscriber.Id}"),
            ManagementApi.Post($"/api/subscribers/{subscriber.Id}/pause", null),
            ManagementApi.Post($"/api/subscribers/{subscriber.Id}/rotate-secret", null),
            ManagementApi.Post($"/api/subscribers/{subscriber.Id}/test", null),
            ManagementApi.Post($"/api/subscribers/{subscriber.Id}/replay-dead", Guid.NewGuid().ToString()),
            new HttpRequestMessage(HttpMethod.Get, $"/api/subscribers/{subscriber.Id}/secret"),
        };
        foreach (var write in writes)
        {
            var problem = await (await reader.SendAsync(write)).ProblemAsync(HttpStatusCode.Forbidden);
            Assert.Equal("X-Api-Key", problem.GetProperty("header").GetString());
            Assert.Contains("Relay:AdminApiKeys", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }

        // Nothing was changed by the refused writes, and nothing was sent.
        using var admin = relay.Client();
        var after = await (await admin.GetAsync($"/api/subscribers/{subscriber.Id}")).ReadAsync<JsonElement>(HttpStatusCode.OK);
        Assert.Equal(JsonSerializer.Serialize(subscriber, ManagementApi.Json), after.GetRawText());
        Assert.Single(await (await admin.GetAsync("/api/subscribers")).ReadAsync<JsonElement[]>(HttpStatusCode.OK));
        Assert.Empty(_scenario.Sink.Requests);
    }

    [Fact]
    public async Task With_no_key_configured_the_api_is_closed_and_says_which_setting_opens_it()
    {
        var relay = await _scenario.StartRelayAsync([]);
        using var client = relay.Client("any-key-at-all-of-some-length");

        var problem = await (await client.GetAsync("/api/subscribers")).ProblemAsync(HttpStatusCode.Unauthorized);

        Assert.Contains("Relay:AdminApiKeys", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        using var anonymous = relay.Client(key: null);
        Assert.Contains("Relay:AdminApiKeys",
            (await (await anonymous.GetAsync("/api/stats")).ProblemAsync(HttpStatusCode.Unauthorized)).GetProperty("detail").GetString(),
            StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_key_too_short_to_be_secret_stops_the_start_naming_it()
    {
        var relay = new RelayHost(rabbit.ConnectionString, _scenario.Database, _scenario.Queue, [new("Relay:AdminApiKeys:0", "short")]);
        await using var _ = _scenario.Own(relay);

        var error = Assert.ThrowsAny<Exception>(() => relay.CreateClient());

        Assert.Contains("Relay:AdminApiKeys:0 must be at least 16 characters", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_openapi_document_describes_the_api_key_scheme_and_every_operation()
    {
        var relay = await _scenario.StartRelayAsync(ManagementApi.Keys);
        using var client = relay.Client(key: null);

        using var document = JsonDocument.Parse(await client.GetStringAsync("/openapi/v1.json"));

        var root = document.RootElement;
        Assert.Equal("Aspire.Webhooks Relay management API", root.GetProperty("info").GetProperty("title").GetString());
        var scheme = root.GetProperty("components").GetProperty("securitySchemes").GetProperty("ApiKey");
        Assert.Equal("apiKey", scheme.GetProperty("type").GetString());
        Assert.Equal("header", scheme.GetProperty("in").GetString());
        Assert.Equal("X-Api-Key", scheme.GetProperty("name").GetString());
        Assert.True(root.GetProperty("security")[0].TryGetProperty("ApiKey", out _));

        var operations = root.GetProperty("paths").EnumerateObject()
            .SelectMany(path => path.Value.EnumerateObject().Select(op => $"{op.Name.ToUpperInvariant()} {path.Name}"))
            .Order()
            .ToArray();
        Assert.Equal(
        [
            "DELETE /api/subscribers/{id}",
            "GET /api/deliveries",
            "GET /api/deliveries/{id}",
            "GET /api/stats",
            "GET /api/subscribers",
            "GET /api/subscribers/{id}",
            "GET /api/subscribers/{id}/secret",
            "GET /api/subscribers/{id}/stats",
            "POST /api/deliveries/{id}/replay",
            "POST /api/subscribers",
            "POST /api/subscribers/{id}/backfill",
            "POST /api/subscribers/{id}/pause",
            "POST /api/subscribers/{id}/replay-dead",
            "POST /api/subscribers/{id}/resume",
            "POST /api/subscribers/{id}/rotate-secret",
            "POST /api/subscribers/{id}/test",
            "PUT /api/subscribers/{id}",
        ], operations);

        var create = root.GetProperty("paths").GetProperty("/api/subscribers").GetProperty("post");
        Assert.Equal(["201", "400", "401", "403", "409"], create.GetProperty("responses").EnumerateObject().Select(r => r.Name).Order());
        var replay = root.GetProperty("paths").GetProperty("/api/deliveries/{id}/replay").GetProperty("post");
        Assert.Contains(replay.GetProperty("parameters").EnumerateArray(),
            p => p.GetProperty("name").GetString() == "Idempotency-Key" && p.GetProperty("in").GetString() == "header");
    }
}
