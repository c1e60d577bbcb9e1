using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Aspire.Webhooks.TestSupport;

namespace Aspire.Webhooks.Receiver.Tests;

/// <summary>
/// The Receiver reaches RabbitMQ through a proxy the test can cut: while the broker is out of reach it answers 503 in
/// time (so myKaarma retries), and once the broker is back it stores events again by itself.
/// </summary>
[Collection(RabbitMqCollection.Name)]
public sealed class BrokerOutageTests(RabbitMqServer rabbit) : IAsyncLifetime
{
    private readonly string _queue = RabbitMqServer.UniqueQueueName("receiver-outage");
    private TcpProxy _proxy = null!;
    private ReceiverFactory _factory = null!;
    private HttpClient _client = null!;
    private int _accepted;

    public Task InitializeAsync()
    {
        var direct = new Uri(rabbit.ConnectionString);
        _proxy = TcpProxy.Start(direct.Host, direct.Port);
        var proxied = new UriBuilder(direct) { Host = "127.0.0.1", Port = _proxy.Port }.Uri.ToString();
        _factory = new ReceiverFactory(proxied, _queue, ("Messaging:PublishTimeout", "00:00:00.500"));
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        _client?.Dispose();
        await _factory.DisposeAsync();
        await _proxy.DisposeAsync();
        await rabbit.DeleteQueueAsync(_queue);
    }

    [Fact]
    public async Task When_the_connection_drops_the_answer_is_503_until_it_is_back_and_every_202_is_stored()
    {
        _client = _factory.CreateClient();
        Assert.Equal(HttpStatusCode.Accepted, await PostAsync());

        _proxy.Cut();
        await AssertRefusedInTimeAsync();
        await Eventually.ReturnsAsync(HealthAsync, s => s == HttpStatusCode.ServiceUnavailable,
            because: "/health reports the lost broker");

        _proxy.Restore();
        await Eventually.ReturnsAsync(PostAsync, s => s == HttpStatusCode.Accepted,
            because: "the Receiver reconnects by itself and stores events again");
        Assert.Equal(HttpStatusCode.OK, await HealthAsync());
        Assert.Equal(HttpStatusCode.Accepted, await PostAsync());

        Assert.True(await rabbit.MessageCountAsync(_queue) >= (uint)_accepted, "every event answered 202 is in the queue");
    }

    [Fact]
    public async Task A_Receiver_started_while_the_broker_is_unreachable_connects_once_it_is_there()
    {
        _proxy.Cut();
        _client = _factory.CreateClient();
        await AssertRefusedInTimeAsync();
        Assert.Equal(HttpStatusCode.ServiceUnavailable, await HealthAsync());

        _proxy.Restore();
        await Eventually.ReturnsAsync(PostAsync, s => s == HttpStatusCode.Accepted,
            because: "the Receiver keeps trying to connect, declares its queue and then stores events");
        Assert.Equal((uint)_accepted, await rabbit.MessageCountAsync(_queue));
    }

    private async Task AssertRefusedInTimeAsync()
    {
        var started = TimeProvider.System.GetTimestamp();
        using var response = await _client.SendAsync(ReceiverFactory.SignedRequest(SampleEvents.WithFreshId(SampleEvents.Mpi)));
        var elapsed = TimeProvider.System.GetElapsedTime(started);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("broker_unavailable", problem.GetProperty("reason").GetString());
        Assert.True(elapsed < TimeSpan.FromSeconds(4.5), $"answered after {elapsed}, past myKaarma's 5 s budget");
    }

    private async Task<HttpStatusCode> PostAsync()
    {
        using var response = await _client.SendAsync(ReceiverFactory.SignedRequest(SampleEvents.WithFreshId(SampleEvents.Customer)));
        if (response.StatusCode == HttpStatusCode.Accepted)
        {
            _accepted++;
        }

        return response.StatusCode;
    }

    private async Task<HttpStatusCode> HealthAsync()
    {
        using var response = await _client.GetAsync("/health");
        return response.StatusCode;
    }
}
