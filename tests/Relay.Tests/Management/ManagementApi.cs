using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Aspire.Webhooks.Relay.Management;
using Aspire.Webhooks.Relay.Subscribers;
using Aspire.Webhooks.TestSupport;
using Microsoft.Extensions.DependencyInjection;

namespace Aspire.Webhooks.Relay.Tests.Management;

/// <summary>The management API of a test Relay, called the way an operator's client would: HTTP with an API key.</summary>
internal static class ManagementApi
{
    public const string AdminKey = "admin-key-of-the-tests-7c1f0e2a";
    public const string ReadOnlyKey = "read-only-key-of-the-tests-95d3b4";

    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>One admin and one read-only key, as configuration.</summary>
    public static IEnumerable<KeyValuePair<string, string?>> Keys =>
    [
        new("Relay:AdminApiKeys:0", AdminKey),
        new("Relay:ReadOnlyApiKeys:0", ReadOnlyKey),
    ];

    public static HttpClient Client(this RelayHost relay, string? key = AdminKey)
    {
        var client = relay.CreateClient();
        if (key is not null)
        {
            client.DefaultRequestHeaders.Add("X-Api-Key", key);
        }

        return client;
    }

    /// <summary>A subscriber definition as JSON, the sink's path as its URL.</summary>
    public static object Definition(string name, Uri url, string? secret = RelayScenario.Secret, string[]? eventTypes = null,
        int? maxAttempts = null, string? baseDelay = null, string? maxDelay = null) => new
    {
        name,
        url = url.ToString(),
        secret,
        filter = new { eventTypes = eventTypes ?? [] },
        retry = new { maxAttempts, baseDelay = baseDelay ?? "00:00:00.050", maxDelay = maxDelay ?? "00:00:00.200" },
    };

    /// <summary>Creates a subscriber and waits until the Relay routes events to it (its routing table is refreshed on a notification).</summary>
    public static async Task<SubscriberResponse> CreateSubscriberAsync(this RelayHost relay, object definition)
    {
        using var client = relay.Client();
        using var response = await client.PostAsJsonAsync("/api/subscribers", definition, Json);
        var created = await response.ReadAsync<SubscriberResponse>(HttpStatusCode.Created);
        await relay.RoutesToAsync(created.Id);
        return created;
    }

    public static Task RoutesToAsync(this RelayHost relay, Guid subscriberId) =>
        Eventually.ReturnsAsync(() => Task.FromResult(relay.Services.GetRequiredService<SubscriberCache>().Current),
            current => current.Any(s => s.Id == subscriberId), because: "the routing table has the new subscriber");

    public static async Task<T> ReadAsync<T>(this HttpResponseMessage response, HttpStatusCode expected)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"expected {(int)expected}, got {(int)response.StatusCode}: {body}");
        return JsonSerializer.Deserialize<T>(body, Json)!;
    }

    /// <summary>The problem details of a refusal, checked for its status.</summary>
    public static async Task<JsonElement> ProblemAsync(this HttpResponseMessage response, HttpStatusCode expected)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"expected {(int)expected}, got {(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    /// <summary>The fields a validation problem names.</summary>
    public static async Task<string[]> InvalidFieldsAsync(this HttpResponseMessage response)
    {
        var problem = await response.ProblemAsync(HttpStatusCode.BadRequest);
        return [.. problem.GetProperty("errors").EnumerateObject().Select(e => e.Name).Order()];
    }

    public static HttpRequestMessage Post(string path, string? idempotencyKey, object? body = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path);
        if (idempotencyKey is not null)
        {
            request.Headers.Add("Idempotency-Key", idempotencyKey);
        }

        if (body is not null)
        {
            request.Content = JsonContent.Create(body, options: Json);
        }

        return request;
    }

    /// <summary>Whether the request carries a Standard Webhooks signature under <paramref name="secret"/> (one of those it carries).</summary>
    public static bool IsSignedWith(this SinkRequest request, string secret)
    {
        var key = Convert.FromBase64String(secret["whsec_".Length..]);
        var signed = Encoding.UTF8.GetBytes($"{request.Header("webhook-id")}.{request.Header("webhook-timestamp")}.")
            .Concat(request.Body).ToArray();
        var expected = "v1," + Convert.ToBase64String(HMACSHA256.HashData(key, signed));
        return request.Header("webhook-signature").Split(' ').Contains(expected);
    }
}
