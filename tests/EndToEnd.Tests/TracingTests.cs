using System.Text.Json;
using Aspire.Webhooks.TestSupport;

namespace Aspire.Webhooks.EndToEnd.Tests;

/// <summary>One trace runs from myKaarma's request through the broker and the Relay to the subscriber.</summary>
[Collection(RunningSystemCollection.Name)]
public sealed class TracingTests(RunningSystem system)
{
    [Fact]
    public async Task A_sample_event_is_one_trace_from_the_receiver_through_the_relay_to_the_subscriber()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        var result = await system.App.ResourceCommands.ExecuteCommandAsync("receiver", "send-sample-events", timeout.Token);
        Assert.True(result.Success, result.Message);

        // The dashboard's telemetry API (anonymous here, as the test starts it) holds what the services exported.
        using var dashboard = new HttpClient { BaseAddress = system.DashboardUrl };
        var spanning = await Eventually.ReturnsAsync(async () =>
        {
            using var traces = JsonDocument.Parse(await dashboard.GetStringAsync("/api/telemetry/traces", timeout.Token));
            return ServicesPerTrace(traces.RootElement)
                .Where(t => t.Value.IsSupersetOf(["receiver", "relay", "demo-subscriber"]))
                .Select(t => t.Key)
                .ToList();
        }, t => t.Count > 0, TimeSpan.FromSeconds(45), "a trace with spans from the Receiver, the Relay and the subscriber");

        Assert.NotEmpty(spanning);
    }

    private static Dictionary<string, HashSet<string>> ServicesPerTrace(JsonElement root)
    {
        var services = new Dictionary<string, HashSet<string>>();
        foreach (var resourceSpans in root.GetProperty("data").GetProperty("resourceSpans").EnumerateArray())
        {
            var service = resourceSpans.GetProperty("resource").GetProperty("attributes").EnumerateArray()
                .Where(a => a.GetProperty("key").GetString() == "service.name")
                .Select(a => a.GetProperty("value").GetProperty("stringValue").GetString())
                .FirstOrDefault() ?? "?";
            foreach (var scope in resourceSpans.GetProperty("scopeSpans").EnumerateArray())
            {
                foreach (var span in scope.GetProperty("spans").EnumerateArray())
                {
                    var traceId = span.GetProperty("traceId").GetString()!;
                    if (!services.TryGetValue(traceId, out var set))
                    {
                        services[traceId] = set = [];
                    }

                    set.Add(service);
                }
            }
        }

        return services;
    }
}
