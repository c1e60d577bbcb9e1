using System.Net.Http.Json;
using System.Text.Json;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using Aspire.Webhooks.TestSupport;

namespace Aspire.Webhooks.EndToEnd.Tests;

/// <summary>The whole system as the README's run command starts it, driven the way a newcomer would.</summary>
[Collection(ServersCollection.Name)]
public sealed class AppHostTests(RabbitMqServer rabbit, PostgresServer postgres)
{
    private static readonly TimeSpan Startup = TimeSpan.FromMinutes(3);

    [Fact]
    public async Task The_send_sample_events_command_delivers_four_verified_events_to_the_demo_subscriber()
    {
        var database = await postgres.CreateDatabaseAsync("apphost_e2e");
        var queue = RabbitMqServer.UniqueQueueName("apphost-e2e");
        try
        {
            var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.AppHost>(
            [
                $"--ConnectionStrings:messaging={rabbit.ConnectionString}",
                $"--ConnectionStrings:relaydb={database}",
                $"--Messaging:EventsQueue={queue}",
                $"--Messaging:TopologyPrefix={queue}.",
            ], (options, _) => options.DisableDashboard = true);
            await using var app = await builder.BuildAsync();
            using var timeout = new CancellationTokenSource(Startup);
            await app.StartAsync(timeout.Token);

            foreach (var resource in new[] { "receiver", "relay", "demo-subscriber" })
            {
                await app.ResourceNotifications.WaitForResourceHealthyAsync(resource, timeout.Token);
            }

            var started = DateTimeOffset.UtcNow;
            var result = await app.ResourceCommands.ExecuteCommandAsync("receiver", "send-sample-events", timeout.Token);
            Assert.True(result.Success, result.Message);

            using var demo = app.CreateHttpClient("demo-subscriber");
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
        finally
        {
            await PostgresServer.DropDatabaseAsync(database);
            await rabbit.DeleteQueueAsync(queue);
        }
    }
}
