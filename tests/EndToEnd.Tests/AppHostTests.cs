using System.Net.Http.Json;
using System.Text.Json;
using Aspire.Hosting.Testing;
using Aspire.Webhooks.TestSupport;

namespace Aspire.Webhooks.EndToEnd.Tests;

/// <summary>The whole system as the README's run command starts it, driven the way a newcomer would.</summary>
[Collection(RunningSystemCollection.Name)]
public sealed class AppHostTests(RunningSystem system)
{
    [Fact]
    public async Task The_send_sample_events_command_delivers_four_verified_events_to_the_demo_subscriber()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        var started = DateTimeOffset.UtcNow;

        var result = await system.App.ResourceCommands.ExecuteCommandAsync("receiver", "send-sample-events", timeout.Token);
        Assert.True(result.Success, result.Message);

        using var demo = system.App.CreateHttpClient("demo-subscriber");
        var received = await Eventually.ReturnsAsync(async () =>
                (await demo.GetFromJsonAsync<JsonElement[]>("/received", timeout.Token))!
                .Where(r => r.GetProperty("path").GetString() == "demo-all" && r.GetProperty("at").GetDateTimeOffset() >= started)
                .ToList(),
            r => r.Count >= 4, TimeSpan.FromSeconds(60), "the four samples reach the subscriber that takes everything");

        Assert.Equal(4, received.Count);
        Assert.All(received, r => Assert.True(r.GetProperty("verified").GetBoolean()));
        Assert.Equal(["appointments", "customers", "mpis", "service-orders"],
            received.Select(r => r.GetProperty("eventType").GetString()!).Order());
    }
}
