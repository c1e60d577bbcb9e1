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
    private readonly OutcomeRecorder _recorder = new(outbox, subscriberStore, options.Value, time, loggers.CreateLogger<OutcomeRecorder>());

    internal DeliveryLane Start(Subscriber subscriber) =>
        new(subscriber, outbox, _recorder, subscriberStore, sender, metrics, options.Value, time, loggers.CreateLogger<DeliveryLane>());

    /// <summary>Disposed by the container after the dispatcher stopped its lanes, so their last outcomes are written.</summary>
    public ValueTask DisposeAsync() => _recorder.DisposeAsync();

    // A container disposed synchronously still lets the last outcomes be written.
    public void Dispose() => _recorder.DisposeAsync().AsTask().GetAwaiter().GetResult();
}

/// <summary>
/// One subscriber's deliveries: claims what is due, up to its concurrency limit and what its rate limit allows now,
/// sends each, and records the outcome with the next attempt time. It disables its subscriber on a 410 Gone, or
/// when every attempt has failed for <see cref="DeliveryOptions.AutoDisableAfter"/>.
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
    // Requests under way, claimed here or handed over by the event writer, and slots the writer holds for a handover.
    private int _inFlight;
    // Delivery tasks not finished yet: a request's slot is given back when its answer came, before its outcome is
    // recorded, so the subscriber's limit counts requests and not the database's commit time.
    private int _alive;
    private int _stopping;
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    // Whether due deliveries of this subscriber may be waiting in the database: until a claim finds fewer than it
    // asked for, and again once a delivery was stored unclaimed. While set, the event writer hands nothing over, so
    // what waits there is claimed first and fresh events never overtake a backlog for good.
    private volatile bool _dueInDatabase = true;
    private volatile Subscriber _subscriber;
    // Set once this lane disabled its subscriber: it claims nothing more, and the dispatcher drops it.
    private volatile bool _halted;
    private int _disabling;
    private DateTimeOffset? _staleStreak;
    private volatile string? _lastFailure;
    private bool _hasPending;
    private SubscriberRateLimit? _rate;

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
        if (_halted)
        {
            // Enabled again before this replica saw it disabled: this lane has stopped, a new one takes over.
            return new DeliveryLane(subscriber, _outbox, _recorder, _subscriberStore, _sender, _metrics, _options, _time, _logger);
        }

        _subscriber = subscriber;
        Wake();
        return this;
    }

    public void Wake() => Dispatcher.Release(_wake);

    /// <summary>Deliveries were stored unclaimed (by this replica or another): claim before taking handovers again.</summary>
    public void DueInDatabase()
    {
        _dueInDatabase = true;
        Wake();
    }

    internal TimeSpan Lease => _options.EffectiveClaimLease;

    /// <summary>
    /// Holds a slot for a delivery the event writer is about to store claimed, when the lane could send it at once:
    /// it is running, has a free slot, nothing due waiting in the database, and no rate limit or stream option that
    /// only a claim applies.
    /// </summary>
    internal bool TryReserve()
    {
        var subscriber = _subscriber;
        if (_halted || Volatile.Read(ref _stopping) == 1 || _dueInDatabase || subscriber.UsesEntityOptions ||
            subscriber.RateLimitPerSecond is not null)
        {
            return false;
        }

        if (HoldSlots(1) == 1)
        {
            return true;
        }

        // This delivery is stored unclaimed: from now on the lane's claims go first.
        _dueInDatabase = true;
        return false;
    }

    /// <summary>Sends a delivery stored claimed in a slot <see cref="TryReserve"/> held; also while stopping, which waits for it.</summary>
    internal void Hand(ClaimedDelivery delivery)
    {
        var subscriber = _subscriber;
        Interlocked.Increment(ref _alive);
        _ = Task.Run(() => DeliverAsync(subscriber, delivery), CancellationToken.None);
    }

    /// <summary>Gives back a slot <see cref="TryReserve"/> held.</summary>
    internal void Release()
    {
        GiveBack(1);
        Wake();
    }

    public async Task StopAsync()
    {
        Interlocked.Exchange(ref _stopping, 1);
        await _stop.CancelAsync();
        await _running;
        // Handed-over requests, and slots held while the writer's commit is under way, finish too.
        if (Volatile.Read(ref _inFlight) > 0 || Volatile.Read(ref _alive) > 0)
        {
            await _drained.Task;
        }
    }

    /// <summary>Takes up to <paramref name="wanted"/> free slots; returns how many it took.</summary>
    private int HoldSlots(int wanted)
    {
        while (true)
        {
            var current = Volatile.Read(ref _inFlight);
            var take = Math.Min(wanted, _subscriber.MaxConcurrency - current);
            if (take <= 0)
            {
                return 0;
            }

            if (Interlocked.CompareExchange(ref _inFlight, current + take, current) == current)
            {
                return take;
            }
        }
    }

    private void GiveBack(int slots)
    {
        if (slots > 0)
        {
            Interlocked.Add(ref _inFlight, -slots);
            SignalIfDrained();
        }
    }

    private void SignalIfDrained()
    {
        if (Volatile.Read(ref _stopping) == 1 && Volatile.Read(ref _inFlight) == 0 && Volatile.Read(ref _alive) == 0)
        {
            _drained.TrySetResult();
        }
    }

    private async Task RunAsync()
    {
        var inFlight = new List<Task>();
        var stopping = _stop.Token;
        var backlog = false;
        // When the lane knows a pending delivery of its subscriber falls due: from its last claim, and from the retries
        // its own requests scheduled since. Null: none known.
        DateTimeOffset? nextDue = null;
        var lastClaim = DateTimeOffset.MinValue;
        while (!stopping.IsCancellationRequested && !_halted)
        {
            try
            {
                inFlight.RemoveAll(t => t.IsCompleted);
                var subscriber = _subscriber;
                // Taken before a claim, so a retry committed before it is in the claim's snapshot, and one committed
                // later stays for the next pass.
                nextDue = Earlier(nextDue, TakeScheduled());
                _hasPending |= nextDue is not null;
                var now = _time.GetUtcNow();
                // Checked on every pass, not only when an attempt fails: a subscriber whose next retry is hours away
                // is still disabled when its window ends.
                if (_hasPending && await DisableIfFailingTooLongAsync(subscriber, stopping))
                {
                    break;
                }

                var free = subscriber.MaxConcurrency - Volatile.Read(ref _inFlight);
                var wait = _options.PollInterval;
                // A finished request needs no claim when nothing waits in the database: fresh deliveries are handed
                // over, and due ones are announced (a notification, a retry time, the poll interval). With stream
                // options a finished request may free the next event of its entity, so those lanes claim every time.
                var claimWorthIt = _dueInDatabase || subscriber.UsesEntityOptions || nextDue <= now ||
                    now - lastClaim >= _options.PollInterval;
                // Claims are made one after another, each a commit: with a backlog, claiming a slot at a time as each
                // request finishes would cap the lane at one delivery per claim round trip. So while the last claim
                // found more than it could take, the lane waits until a quarter of its slots are free and claims them
                // together; the requests still in flight keep the subscriber busy meanwhile.
                if (claimWorthIt && free >= (backlog ? ClaimThreshold(subscriber.MaxConcurrency) : 1) &&
                    WithinRateLimit(subscriber, backlog, ref free, ref wait))
                {
                    // The slots are held before the claim, so handovers made meanwhile cannot take the lane past its limit.
                    free = HoldSlots(free);
                    if (free == 0)
                    {
                        continue;
                    }

                    ClaimResult result;
                    try
                    {
                        result = await _outbox.ClaimAsync(subscriber, free, _options.EffectiveClaimLease, stopping);
                    }
                    catch
                    {
                        GiveBack(free);
                        throw;
                    }

                    lastClaim = now;
                    var claimed = result.Claimed;
                    nextDue = result.NextDue;
                    GiveBack(free - claimed.Count);
                    foreach (var delivery in claimed)
                    {
                        Interlocked.Increment(ref _alive);
                        inFlight.Add(Task.Run(() => DeliverAsync(subscriber, delivery), CancellationToken.None));
                    }

                    _rate?.Spend(claimed.Count);
                    _hasPending = nextDue is not null;
                    backlog = claimed.Count == free;
                    _dueInDatabase = backlog;
                    if (backlog)
                    {
                        continue;
                    }
                }

                // Times already past are left out: the claim they call for waits for a free slot, and a finished
                // request wakes the lane.
                now = _time.GetUtcNow();
                var untilPoll = lastClaim + _options.PollInterval - now;
                if (untilPoll > TimeSpan.Zero && untilPoll < wait)
                {
                    wait = untilPoll;
                }

                if (nextDue - now is { } untilDue && untilDue > TimeSpan.Zero && untilDue < wait)
                {
                    wait = untilDue;
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

    // UTC ticks of the earliest retry this lane's requests scheduled since the loop last looked; MaxValue: none.
    private long _scheduledTicks = long.MaxValue;

    /// <summary>A request of this lane left its delivery pending until <paramref name="at"/>: the lane claims it then.</summary>
    private void Scheduled(DateTimeOffset at)
    {
        var ticks = at.UtcTicks;
        var current = Volatile.Read(ref _scheduledTicks);
        while (ticks < current)
        {
            var seen = Interlocked.CompareExchange(ref _scheduledTicks, ticks, current);
            if (seen == current)
            {
                break;
            }

            current = seen;
        }

        Wake();
    }

    private DateTimeOffset? TakeScheduled()
    {
        var ticks = Interlocked.Exchange(ref _scheduledTicks, long.MaxValue);
        return ticks == long.MaxValue ? null : new DateTimeOffset(ticks, TimeSpan.Zero);
    }

    private static DateTimeOffset? Earlier(DateTimeOffset? a, DateTimeOffset? b) =>
        a is null ? b : b is null ? a : a < b ? a : b;

    /// <summary>
    /// Lowers <paramref name="free"/> to the tokens the subscriber's rate limit has now, so nothing claimed waits for
    /// one under its lease; false, with the time until enough tokens, when too few are there to make a claim worth it.
    /// </summary>
    private bool WithinRateLimit(Subscriber subscriber, bool backlog, ref int free, ref TimeSpan wait)
    {
        if (subscriber.RateLimitPerSecond is not { } perSecond)
        {
            _rate = null;
            return true;
        }

        if (_rate is null || _rate.PerSecond != perSecond)
        {
            _rate = new SubscriberRateLimit(perSecond, _time);
        }

        // With a backlog, claims are batched as for free slots above, up to what the bucket can hold.
        var wanted = backlog ? Math.Min(ClaimThreshold(subscriber.MaxConcurrency), _rate.Burst) : 1;
        var available = _rate.Available;
        if (available < wanted)
        {
            wait = _rate.TimeUntil(wanted);
            return false;
        }

        free = Math.Min(free, available);
        return true;
    }

    private async Task DeliverAsync(Subscriber subscriber, ClaimedDelivery delivery)
    {
        var slotHeld = true;
        try
        {
            var started = _time.GetUtcNow();
            var startedTicks = _time.GetTimestamp();
            var result = await _sender.SendAsync(subscriber, delivery, CancellationToken.None);
            var duration = _time.GetElapsedTime(startedTicks);
            // The request is over: the slot can take the next one while this outcome waits for its commit. The claim
            // lease keeps the delivery off every other claim until then.
            slotHeld = false;
            GiveBack(1);
            Wake();
            var decision = RetrySchedule.Decide(subscriber.Retry, delivery.AttemptInRound, result.StatusCode, result.RetryAfter,
                _time.GetUtcNow(), Random.Shared);
            var error = result.Error ?? decision.Reason;
            var record = new AttemptRecord(delivery.Id, delivery.Attempt, started, duration, (int?)result.StatusCode, error,
                result.ResponseExcerpt);
            var (status, next, outcome) = decision.Verdict switch
            {
                AttemptVerdict.Delivered => ("delivered", (DateTimeOffset?)null, "delivered"),
                AttemptVerdict.Retry => ("pending", decision.NextAttemptAt, "retry"),
                AttemptVerdict.DisableSubscriber => ("pending", _time.GetUtcNow(), "disabled"),
                _ => ("dead", null, "dead_lettered"),
            };

            var recorded = await _recorder.RecordAsync(subscriber.Id, new AttemptOutcome(record, status, next));
            _metrics.Attempt(subscriber.Name, outcome, duration);
            if (!recorded)
            {
                LogStale(delivery.Id, delivery.Attempt);
                return;
            }

            if (decision.Verdict != AttemptVerdict.Delivered)
            {
                _lastFailure = DescribeFailure((int?)result.StatusCode, error);
            }

            if (decision.Verdict == AttemptVerdict.Retry)
            {
                Scheduled(next!.Value);
            }

            if (decision.Verdict == AttemptVerdict.DeadLetter)
            {
                LogDeadLettered(delivery.Id, subscriber.Name, delivery.Attempt, error ?? "unknown");
            }
            else if (decision.Verdict == AttemptVerdict.Retry)
            {
                LogRetry(delivery.Id, subscriber.Name, delivery.Attempt, error ?? $"status {(int?)result.StatusCode}", next!.Value);
            }
            else if (decision.Verdict == AttemptVerdict.DisableSubscriber)
            {
                await DisableAsync(subscriber, "gone", failingSince: null,
                    $"The endpoint answered 410 Gone at {started:u}. Enable it again once its URL " +
                    "is fixed; its deliveries wait until then.");
            }
            else
            {
                LogDelivered(delivery.Id, subscriber.Name, duration.TotalMilliseconds);
            }

            if (decision.Verdict is AttemptVerdict.Retry or AttemptVerdict.DeadLetter)
            {
                // The latest view of the subscriber: the one claimed with may predate its failing streak.
                await DisableIfFailingTooLongAsync(_subscriber, CancellationToken.None);
            }
        }
        catch (Exception ex)
        {
            // The claim lease expires and another pass retries the delivery.
            LogDeliverFailed(ex, delivery.Id, subscriber.Name);
        }
        finally
        {
            if (slotHeld)
            {
                GiveBack(1);
                Wake();
            }

            Interlocked.Decrement(ref _alive);
            SignalIfDrained();
        }
    }

    /// <summary>
    /// Disables the subscriber when its failing streak has lasted <see cref="DeliveryOptions.AutoDisableAfter"/>:
    /// judged on this replica's last view of it, and written only if the streak is still the same in the database.
    /// </summary>
    private async Task<bool> DisableIfFailingTooLongAsync(Subscriber subscriber, CancellationToken cancellationToken)
    {
        var window = _options.AutoDisableAfter;
        if (window <= TimeSpan.Zero || subscriber.State != SubscriberState.Active || subscriber.FailingSince is not { } since ||
            _time.GetUtcNow() - since < window)
        {
            return false;
        }

        // Failures finishing together check once; a streak the database no longer has (a success ended it) is not
        // tried again until this replica's view of the subscriber catches up.
        if (Interlocked.Exchange(ref _disabling, 1) == 1)
        {
            return false;
        }

        try
        {
            if (_staleStreak == since)
            {
                return false;
            }

            var failure = _lastFailure;
            if (failure is null && await _subscriberStore.LastFailureAsync(subscriber.Id, cancellationToken) is { } last)
            {
                failure = DescribeFailure(last.StatusCode, last.Error);
            }

            var disabled = await DisableAsync(subscriber, "failing", since,
                $"Every attempt has failed since {since:u}, for longer than " +
                $"Relay:Delivery:AutoDisableAfter ({window:c}); last error: {failure ?? "none recorded"}. Enable it again " +
                "to resume its deliveries.");
            _staleStreak = disabled ? null : since;
            return disabled;
        }
        finally
        {
            Volatile.Write(ref _disabling, 0);
        }
    }

    /// <summary>Disables the subscriber if it is active, so this lane claims nothing more; every replica is told.</summary>
    private async Task<bool> DisableAsync(Subscriber subscriber, string cause, DateTimeOffset? failingSince, string reason)
    {
        if (!await _subscriberStore.DisableAsync(subscriber.Id, reason, failingSince, CancellationToken.None))
        {
            return false;
        }

        _halted = true;
        Wake();
        _metrics.SubscriberDisabled(subscriber.Name, cause);
        LogDisabled(subscriber.Name, cause, reason);
        return true;
    }

    private static string DescribeFailure(int? statusCode, string? error) =>
        statusCode is { } code ? $"HTTP {code}" : error ?? "no answer";

    [LoggerMessage(Level = LogLevel.Debug, Message = "Delivered {DeliveryId} to {Subscriber} in {ElapsedMs} ms")]
    private partial void LogDelivered(Guid deliveryId, string subscriber, double elapsedMs);

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Delivery {DeliveryId} to {Subscriber} failed on attempt {Attempt} ({Error}); next attempt at {NextAttemptAt:o}")]
    private partial void LogRetry(Guid deliveryId, string subscriber, int attempt, string error, DateTimeOffset nextAttemptAt);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Dead-lettered delivery {DeliveryId} to {Subscriber} after attempt {Attempt}: {Reason}")]
    private partial void LogDeadLettered(Guid deliveryId, string subscriber, int attempt, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Disabled subscriber {Subscriber} ({Cause}): {Reason}")]
    private partial void LogDisabled(string subscriber, string cause, string reason);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Attempt {Attempt} of delivery {DeliveryId} finished after its claim expired; the newer claim's outcome stands")]
    private partial void LogStale(Guid deliveryId, int attempt);

    [LoggerMessage(Level = LogLevel.Error, Message = "Delivering {DeliveryId} to {Subscriber} failed unexpectedly")]
    private partial void LogDeliverFailed(Exception exception, Guid deliveryId, string subscriber);

    [LoggerMessage(Level = LogLevel.Error, Message = "The delivery lane of {Subscriber} failed; retrying in 1 s")]
    private partial void LogLaneFailed(Exception exception, string subscriber);
}
