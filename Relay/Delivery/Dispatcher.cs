using System.Collections.Concurrent;
using Aspire.Webhooks.Relay.Outbox;
using Aspire.Webhooks.Relay.Subscribers;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Aspire.Webhooks.Relay.Delivery;

/// <summary>
/// Forwards due deliveries. Each active subscriber gets its own lane with its own concurrency limit, so a slow
/// subscriber holds back only its own deliveries. Lanes wake on PostgreSQL notifications sent by the commit that
/// created deliveries, on a finished request, or when the next retry falls due; <see cref="DeliveryOptions.PollInterval"/>
/// is only the safety net.
/// </summary>
public sealed partial class Dispatcher(
    NpgsqlDataSource database,
    SubscriberCache subscribers,
    DeliveryLaneFactory lanes,
    LaneDirectory directory,
    IOptions<DeliveryOptions> options,
    TimeProvider time,
    ILogger<Dispatcher> logger) : BackgroundService
{
    private readonly ConcurrentDictionary<Guid, DeliveryLane> _lanes = directory.Lanes;
    private readonly SemaphoreSlim _refresh = new(0, 1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var listening = ListenAsync(stoppingToken);
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                try
                {
                    SyncLanes(await subscribers.RefreshAsync(stoppingToken));
                }
                catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
                {
                    LogRefreshFailed(ex);
                }

                await WaitAsync(_refresh, options.Value.PollInterval, time, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            await Task.WhenAll(_lanes.Values.Select(lane => lane.StopAsync()));
            await listening;
        }
    }

    private void SyncLanes(IReadOnlyList<Subscriber> current)
    {
        var active = current.Where(s => s.State == SubscriberState.Active).ToDictionary(s => s.Id);
        foreach (var (id, lane) in _lanes)
        {
            if (!active.ContainsKey(id) && _lanes.TryRemove(id, out _))
            {
                _ = lane.StopAsync();
            }
        }

        foreach (var subscriber in active.Values)
        {
            _lanes.AddOrUpdate(subscriber.Id, _ => lanes.Start(subscriber), (_, lane) => lane.Update(subscriber));
        }
    }

    /// <summary>Holds one connection in LISTEN and turns notifications into lane wake-ups; reconnects when it breaks.</summary>
    private async Task ListenAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await using var connection = await database.OpenConnectionAsync(stoppingToken);
                connection.Notification += (_, e) => OnNotification(e.Channel, e.Payload);
                await using (var listen = new NpgsqlCommand(
                    $"listen {OutboxStore.DeliveriesChannel}; listen {SubscriberStore.ChangesChannel}", connection))
                {
                    await listen.ExecuteNonQueryAsync(stoppingToken);
                }

                // Anything committed while no one listened is picked up by this first pass.
                foreach (var lane in _lanes.Values)
                {
                    lane.DueInDatabase();
                }

                while (!stoppingToken.IsCancellationRequested)
                {
                    await connection.WaitAsync(stoppingToken);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                LogListenFailed(ex);
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), time, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    private void OnNotification(string channel, string payload)
    {
        if (channel == SubscriberStore.ChangesChannel)
        {
            Release(_refresh);
        }
        else if (Guid.TryParse(payload, out var subscriberId) && _lanes.TryGetValue(subscriberId, out var lane))
        {
            lane.DueInDatabase();
        }
    }

    internal static void Release(SemaphoreSlim signal)
    {
        try
        {
            signal.Release();
        }
        catch (SemaphoreFullException)
        {
            // Already signalled; one wake-up covers any number of reasons.
        }
    }

    /// <summary>Waits for the signal or the timeout, whichever comes first.</summary>
    internal static async Task WaitAsync(SemaphoreSlim signal, TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        if (timeout <= TimeSpan.Zero)
        {
            return;
        }

        using var timeoutSource = new CancellationTokenSource(timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeoutSource.Token, cancellationToken);
        try
        {
            await signal.WaitAsync(linked.Token);
        }
        catch (OperationCanceledException) when (timeoutSource.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Reading subscribers failed; keeping the lanes as they are")]
    private partial void LogRefreshFailed(Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Lost the notification connection to PostgreSQL; reconnecting")]
    private partial void LogListenFailed(Exception exception);
}
