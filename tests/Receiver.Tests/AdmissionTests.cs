using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Aspire.Webhooks.Receiver.Ingest;
using Aspire.Webhooks.TestSupport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Aspire.Webhooks.Receiver.Tests;

/// <summary>Past MyKaarma:MaxConcurrentRequests the Receiver refuses at once instead of queueing into timeouts.</summary>
[Collection(RabbitMqCollection.Name)]
public sealed class AdmissionTests(RabbitMqServer rabbit) : IAsyncLifetime
{
    private readonly string _queue = RabbitMqServer.UniqueQueueName("receiver-admission");

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await rabbit.DeleteQueueAsync(_queue);

    [Fact]
    public async Task A_request_past_the_limit_gets_503_with_retry_after_and_is_accepted_once_a_slot_frees()
    {
        await using var factory = new ReceiverFactory(rabbit.ConnectionString, _queue, ("MyKaarma:MaxConcurrentRequests", "2"));
        using var client = factory.CreateClient();
        var gate = factory.Services.GetRequiredService<AdmissionGate>();

        // Two requests in progress, held by the test itself: the limit is reached.
        Assert.True(gate.TryEnter());
        Assert.True(gate.TryEnter());
        using var refused = await client.SendAsync(ReceiverFactory.SignedRequest(SampleEvents.WithFreshId(SampleEvents.Customer)));

        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(AdmissionGate.RetryAfterSeconds), refused.Headers.RetryAfter?.Delta);
        var problem = await refused.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(RejectionReasons.Overloaded, problem.GetProperty("reason").GetString());
        Assert.Equal("receiver", problem.GetProperty("field").GetString());
        Assert.Equal(2, gate.InFlight);

        gate.Exit();
        using var accepted = await client.SendAsync(ReceiverFactory.SignedRequest(SampleEvents.WithFreshId(SampleEvents.Customer)));

        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        Assert.Equal(1, gate.InFlight);
        gate.Exit();
    }

    [Fact]
    public void The_gate_admits_up_to_the_limit_and_again_after_an_exit()
    {
        var options = new StaticOptionsMonitor(new MyKaarmaOptions { MaxConcurrentRequests = 2 });
        var gate = new AdmissionGate(options);

        Assert.True(gate.TryEnter());
        Assert.True(gate.TryEnter());
        Assert.False(gate.TryEnter());
        Assert.Equal(2, gate.InFlight);

        gate.Exit();
        Assert.True(gate.TryEnter());
        Assert.False(gate.TryEnter());
    }

    private sealed class StaticOptionsMonitor(MyKaarmaOptions value) : IOptionsMonitor<MyKaarmaOptions>
    {
        public MyKaarmaOptions CurrentValue => value;

        public MyKaarmaOptions Get(string? name) => value;

        public IDisposable? OnChange(Action<MyKaarmaOptions, string?> listener) => null;
    }
}
