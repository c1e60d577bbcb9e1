using System.Net;
using Aspire.Webhooks.TestSupport;

namespace Aspire.Webhooks.Relay.Tests;

/// <summary>A Relay process killed with SIGKILL loses nothing it had stored: the next one delivers it.</summary>
[Collection(ServersCollection.Name)]
public sealed class CrashRecoveryTests(RabbitMqServer rabbit, PostgresServer postgres) : IAsyncLifetime
{
    private const int EventCount = 4;
    private readonly RelayScenario _scenario = new(rabbit, postgres);

    public Task InitializeAsync() => _scenario.InitializeAsync();

    public Task DisposeAsync() => _scenario.DisposeAsync();

    [Fact]
    public async Task Deliveries_in_flight_or_waiting_for_a_retry_when_the_Relay_is_killed_arrive_after_a_restart()
    {
        var sink = _scenario.Sink;
        var hang = new TaskCompletionSource();
        var down = true;
        sink.Gate = request => request.Path == "/hanging" ? hang.Task : Task.CompletedTask;
        sink.Answer = request => request.Path == "/down" && Volatile.Read(ref down)
            ? (HttpStatusCode.InternalServerError, null)
            : (HttpStatusCode.OK, null);
        var settings = _scenario.ProcessSettings(new SubscriberConfig()
            .Add("hanging", sink.Url("/hanging"), RelayScenario.Secret, maxConcurrency: 8)
            .Add("down", sink.Url("/down"), RelayScenario.Secret, baseDelay: "00:00:00.500", maxDelay: "00:00:01")
            .Settings
            .Append(new("Relay:Delivery:PollInterval", "00:00:00.200"))
            // Requests hang far longer than the test, so only the lease can free their claims.
            .Append(new("Relay:Delivery:RequestTimeout", "00:01:00"))
            .Append(new("Relay:Delivery:ClaimLease", "00:00:03")));

        var first = _scenario.Own(await RelayProcess.StartAsync(settings));
        for (var i = 0; i < EventCount; i++)
        {
            await _scenario.Sender.SendAsync(Events.Fresh(SampleEvents.Customer));
        }

        // Every "hanging" delivery is claimed and its request is open; every "down" one failed and waits for a retry.
        await Eventually.ReturnsAsync(() => Task.FromResult(sink.RequestsTo("/hanging").Count), n => n == EventCount,
            because: $"all hanging requests are in flight\n{first.Output}");
        await Eventually.ReturnsAsync(() => _scenario.ScalarAsync<long>("""
            select count(*) from deliveries d join subscribers s on s.id = d.subscriber_id
            where s.name = 'down' and d.status = 'pending' and d.last_status_code = 500
            """), n => n == EventCount, because: "each down delivery has a failed attempt recorded");
        var sentBeforeKill = sink.RequestsTo("/hanging").Select(r => r.Header("webhook-id")).ToHashSet();

        await first.KillAsync();
        Assert.DoesNotContain(sink.Accepted, r => r.Path == "/hanging");
        Assert.Equal(0L, await _scenario.ScalarAsync<long>("select count(*) from deliveries where status = 'delivered'"));

        hang.SetResult();
        Volatile.Write(ref down, false);
        var second = _scenario.Own(await RelayProcess.StartAsync(settings));

        await Eventually.ReturnsAsync(() => _scenario.ScalarAsync<long>("select count(*) from deliveries where status = 'delivered'"),
            n => n == 2 * EventCount, TimeSpan.FromSeconds(30), because: $"every delivery is delivered after the restart\n{second.Output}");
        var deliveryIds = (await _scenario.RowsAsync<Guid, string>(
                "select d.id, s.name from deliveries d join subscribers s on s.id = d.subscriber_id"))
            .ToLookup(row => row.Item2, row => row.Item1.ToString());
        foreach (var subscriber in new[] { "hanging", "down" })
        {
            var accepted = sink.Accepted.Where(r => r.Path == "/" + subscriber).Select(r => r.Header("webhook-id")).ToHashSet();
            Assert.Equal(deliveryIds[subscriber].Order(), accepted.Order());
        }

        // The deliveries the killed process had in flight were sent again under the same webhook-id.
        Assert.Equal(sentBeforeKill.Order(), deliveryIds["hanging"].Order());
    }
}
