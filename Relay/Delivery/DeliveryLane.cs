using Aspire.Webhooks.Relay.Outbox;
using Aspire.Webhooks.Relay.Subscribers;
using Microsoft.Extensions.Options;

namespace Aspire.Webhooks.Relay.Delivery;

/// <summary>Starts one lane per subscriber with the shared services, among them one outcome recorder for all lanes.</summary>
public sealed class DeliveryLaneFactory(
    OutboxStore outbox,
    SubscriberStore subscriberStore,
    WebhookSender sender,
    RelayMetrics metrics,
    IOptions<DeliveryOptions> options,
    TimeProvider time,
    ILoggerFactory loggers) : IAsyncDisposable, IDisposable
{
    // Shared, so attempts finishing in different lanes at the same time are committed together.
    private readonly OutcomeRecorder _recorder = new(outbox, options.Value, time, loggers.CreateLogger<OutcomeRecorder>());

    internal DeliveryLane Start(Subscriber subscriber) =>
        new(subscriber, outbox, _recorder, subscriberStore, sender, metrics, options.Value, time, loggers.CreateLogger<DeliveryLane>());

    /// <summary>Disposed by the container after the dispatcher stopped its lanes, so their last outcomes are written.</summary>
    public ValueTask DisposeAsync() => _recorder.DisposeAsync();

    // A container disposed synchronously still lets the last outcomes be written.
    public void Dispose() => _recorder.DisposeAsync().AsTask().GetAwaiter().GetResult();
}

/// <summary>
/// One subscriber's deliveries: claims what is due, up to its concurrency limit, sends each, and records the
/// outcome with the next attempt time.
/// </summary>
internal sealed partial class DeliveryLane
{
    private readonly OutboxStore _outbox;
    private readonly OutcomeRecorder _recorder;
    private readonly SubscriberStore _subscriberStore;
    private readonly WebhookSender _sender;
    private readonly RelayMetrics _metrics;
    private readonly DeliveryOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _wake = new(0, 1);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _running;
    private int _inFlight;
    private volatile Subscriber _subscriber;
    private volatile bool _paused;

    public DeliveryLane(Subscriber subscriber, OutboxStore outbox, OutcomeRecorder recorder, SubscriberStore subscriberStore,
        WebhookSender sender, RelayMetrics metrics, DeliveryOptions options, TimeProvider time, ILogger logger)
    {
        _subscriber = subscriber;
        _outbox = outbox;
        _recorder = recorder;
        _subscriberStore = subscriberStore;
        _sender = sender;
        _metrics = metrics;
        _options = options;
        _time = time;
        _logger = logger;
        _running = Task.Run(RunAsync);
    }

    public DeliveryLane Update(Subscriber subscriber)
    {
        _subscriber = subscriber;
        Wake();
        return this;
    }

    public void Wake() => Dispatcher.Release(_wake);

    public async Task StopAsync()
    {
        await _stop.CancelAsync();
        await _running;
    }

    private async Task RunAsync()
    {
        var inFlight = new List<Task>();
        var stopping = _stop.Token;
        var backlog = false;
        while (!stopping.IsCancellationRequested && !_paused)
        {
            try
            {
                inFlight.RemoveAll(t => t.IsCompleted);
                var subscriber = _subscriber;
                var free = subscriber.MaxConcurrency - Volatile.Read(ref _inFlight);
                var wait = _options.PollInterval;
                // Claims are made one after another, each a commit: with a backlog, claiming a slot at a time as each
                // request finishes would cap the lane at one delivery per claim round trip. So while the last claim
                // found more than it could take, the lane waits until a quarter of its slots are free and claims them
                // together; the requests still in flight keep the subscriber busy meanwhile.
                if (free >= (backlog ? ClaimThreshold(subscriber.MaxConcurrency) : 1))
                {
                    var (claimed, nextDue) = await _outbox.ClaimAsync(subscriber, free, _options.EffectiveClaimLease, stopping);
                    foreach (var delivery in claimed)
                    {
                        Interlocked.Increment(ref _inFlight);
                        inFlight.Add(Task.Run(() => DeliverAsync(subscriber, delivery), CancellationToken.None));
                    }

                    backlog = claimed.Count == free;
                    if (backlog)
                    {
                        continue;
                    }

                    if (nextDue is { } due)
                    {
                        var untilDue = due - _time.GetUtcNow();
                        wait = untilDue < wait ? untilDue : wait;
                    }
                }

                await Dispatcher.WaitAsync(_wake, wait, _time, stopping);
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                LogLaneFailed(ex, _subscriber.Name);
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), _time, stopping);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }

        // Requests under way finish and are recorded; nothing new is claimed.
        await Task.WhenAll(inFlight);
    }

    internal static int ClaimThreshold(int maxConcurrency) => Math.Max(1, maxConcurrency / 4);

    private async Task DeliverAsync(Subscriber subscriber, ClaimedDelivery delivery)
    {
        try
        {
            var started = _time.GetUtcNow();
            var startedTicks = _time.GetTimestamp();
            var result = await _sender.SendAsync(subscriber, delivery, CancellationToken.None);
            var duration = _time.GetElapsedTime(startedTicks);
            var decision = RetrySchedule.Decide(subscriber.Retry, delivery.AttemptInRound, result.StatusCode, result.RetryAfter,
                _time.GetUtcNow(), Random.Shared);
            var error = result.Error ?? decision.Reason;
            var record = new AttemptRecord(delivery.Id, delivery.Attempt, started, duration, (int?)result.StatusCode, error,
                result.ResponseExcerpt);
            var (status, next, outcome) = decision.Verdict switch
            {
                AttemptVerdict.Delivered => ("delivered", (DateTimeOffset?)null, "delivered"),
                AttemptVerdict.Retry => ("pending", decision.NextAttemptAt, "retry"),
                AttemptVerdict.PauseSubscriber => ("pending", _time.GetUtcNow(), "paused"),
                _ => ("dead", null, "dead_lettered"),
            };

            var recorded = await _recorder.RecordAsync(new AttemptOutcome(record, status, next));
            _metrics.Attempt(subscriber.Name, outcome, duration);
            if (!recorded)
            {
                LogStale(delivery.Id, delivery.Attempt);
            }
            else if (decision.Verdict == AttemptVerdict.DeadLetter)
            {
                LogDeadLettered(delivery.Id, subscriber.Name, delivery.Attempt, error ?? "unknown");
            }
            else if (decision.Verdict == AttemptVerdict.Retry)
            {
                LogRetry(delivery.Id, subscriber.Name, delivery.Attempt, error ?? $"status {(int?)result.StatusCode}", next!.Value);
            }
            else if (decision.Verdict == AttemptVerdict.PauseSubscriber)
            {
                _paused = true;
                await _subscriberStore.SetStateAsync(subscriber.Id, SubscriberState.Paused, decision.Reason, CancellationToken.None);
                LogPaused(subscriber.Name);
            }
            else
            {
                LogDelivered(delivery.Id, subscriber.Name, duration.TotalMilliseconds);
            }
        }
        catch (Exception ex)
        {
            // The claim lease expires and another pass retries the delivery.
            LogDeliverFailed(ex, delivery.Id, subscriber.Name);
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
            Wake();
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Delivered {DeliveryId} to {Subscriber} in {ElapsedMs} ms")]
    private partial void LogDelivered(Guid deliveryId, string subscriber, double elapsedMs);

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Delivery {DeliveryId} to {Subscriber} failed on attempt {Attempt} ({Error}); next attempt at {NextAttemptAt:o}")]
    private partial void LogRetry(Guid deliveryId, string subscriber, int attempt, string error, DateTimeOffset nextAttemptAt);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Dead-lettered delivery {DeliveryId} to {Subscriber} after attempt {Attempt}: {Reason}")]
    private partial void LogDeadLettered(Guid deliveryId, string subscriber, int attempt, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Paused subscriber {Subscriber}: it answered 410 Gone")]
    private partial void LogPaused(string subscriber);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Attempt {Attempt} of delivery {DeliveryId} finished after its claim expired; the newer claim's outcome stands")]
    private partial void LogStale(Guid deliveryId, int attempt);

    [LoggerMessage(Level = LogLevel.Error, Message = "Delivering {DeliveryId} to {Subscriber} failed unexpectedly")]
    private partial void LogDeliverFailed(Exception exception, Guid deliveryId, string subscriber);

    [LoggerMessage(Level = LogLevel.Error, Message = "The delivery lane of {Subscriber} failed; retrying in 1 s")]
    private partial void LogLaneFailed(Exception exception, string subscriber);
}
