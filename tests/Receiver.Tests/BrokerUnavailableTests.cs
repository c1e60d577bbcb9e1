using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using Aspire.Webhooks.TestSupport;

namespace Aspire.Webhooks.Receiver.Tests;

/// <summary>With no broker to confirm, the Receiver must never answer 2xx.</summary>
public sealed class BrokerUnavailableTests
{
    [Fact]
    public async Task With_the_broker_unreachable_the_answer_is_503_within_the_bound()
    {
        // A port nobody listens on: connections are refused at once, as when RabbitMQ is down.
        var port = UnusedLoopbackPort();
        await using var factory = new ReceiverFactory($"amqp://guest:guest@127.0.0.1:{port}/", "unreachable-events",
            ("Messaging:PublishTimeout", "00:00:00.500"));
        using var client = factory.CreateClient();

        var started = DateTime.UtcNow;
        using var response = await client.SendAsync(ReceiverFactory.SignedRequest(SampleEvents.Bytes(SampleEvents.Customer)));
        var elapsed = DateTime.UtcNow - started;

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("broker_unavailable", problem.GetProperty("reason").GetString());
        Assert.True(elapsed < TimeSpan.FromSeconds(4.5), $"answered after {elapsed}, past myKaarma's 5 s budget");

        using var health = await client.GetAsync("/health");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode);
        using var alive = await client.GetAsync("/alive");
        Assert.Equal(HttpStatusCode.OK, alive.StatusCode);
    }

    private static int UnusedLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
