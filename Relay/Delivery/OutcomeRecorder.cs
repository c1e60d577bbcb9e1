using System.Threading.Channels;
using Aspire.Webhooks.Relay.Outbox;
using Aspire.Webhooks.Relay.Subscribers;
using Polly;
using Polly.Retry;

namespace Aspire.Webhooks.Relay.Delivery;

/// <summary>
/// Records attempt outcomes in groups: whatever finished while the previous group was being written goes into the
/// next statement, so under load many attempts share one round trip and one commit, and when idle an outcome is
/// written at once. Each caller learns whether its own outcome was recorded (false: its claim had been taken over).
/// Then the subscribers' health (last success, failing since) is brought up to date from the group, which writes a
/// subscriber's row only when its state turns, or at most once per <see cref="HealthResolution"/> while it succeeds.
/// </summary>
public sealed partial class OutcomeRecorder : IAsyncDisposable
{
    private const int MaxGroup = 512;

    /// <summary>How stale <c>last_success_at</c> may be: a busy subscriber's row is not written on every success.</summary>
    public static readonly TimeSpan HealthResolution = TimeSpan.FromSeconds(1);

    private readonly OutboxStore _outbox;
    private readonly SubscriberStore _subscribers;
    private readonly TimeProvider _time;
    // Per subscriber, what this recorder last wrote (success or failure) and when; only the writing loop uses it.
    private readonly Dictionary<Guid, (bool Succeeded, long At)> _health = [];
    private readonly ILogger _logger;
    private readonly ResiliencePipeline _recording;
    private readonly Channel<Pending> _queue = Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _writing;

    public OutcomeRecorder(OutboxStore outbox, SubscriberStore subscribers, DeliveryOptions options, TimeProvider time,
        ILogger<OutcomeRecorder> logger)
    {
        _outbox = outbox;
        _subscribers = subscribers;
        _time = time;
        _logger = logger;
        // Recording must outlive a short database outage: otherwise the attempts would be made again once their
        // claim leases expire. Jittered exponential backoff, bounded by the lease.
        _recording = new ResiliencePipelineBuilder { TimeProvider = time }
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = new PredicateBuilder().Handle<Exception>(ex => ex is not OperationCanceledException),
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = TimeSpan.FromMilliseconds(200),
                MaxDelay = TimeSpan.FromSeconds(5),
                MaxRetryAttempts = int.MaxValue,
                OnRetry = args =>
                {
                    LogRecordingRetry(args.Outcome.Exception, args.AttemptNumber + 1);
                    return ValueTask.CompletedTask;
                },
            })
            .AddTimeout(options.EffectiveClaimLease)
            .Build();
        _writing = Task.Run(WriteAsync);
    }

    /// <summary>Records the outcome; true once it is committed, false if a newer claim of the delivery owns it.</summary>
    public Task<bool> RecordAsync(Guid subscriberId, AttemptOutcome outcome)
    {
        var pending = new Pending(subscriberId, outcome, new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously));
        if (!_queue.Writer.TryWrite(pending))
        {
            pending.Recorded.SetException(new ObjectDisposedException(nameof(OutcomeRecorder)));
        }

        return pending.Recorded.Task;
    }

    private async Task WriteAsync()
    {
        var group = new List<Pending>(MaxGroup);
        var outcomes = new List<AttemptOutcome>(MaxGroup);
        while (await _queue.Reader.WaitToReadAsync())
        {
            while (group.Count < MaxGroup && _queue.Reader.TryRead(out var pending))
            {
                group.Add(pending);
                outcomes.Add(pending.Outcome);
            }

            bool[] recorded;
            try
            {
                recorded = await _recording.ExecuteAsync(
                    async token => await _outbox.CompleteAsync(outcomes, token), CancellationToken.None);
                for (var i = 0; i < group.Count; i++)
                {
                    group[i].Recorded.TrySetResult(recorded[i]);
                }
            }
            catch (Exception ex)
            {
                // Past the lease: the claims expire and the deliveries are attempted again.
                foreach (var pending in group)
                {
                    pending.Recorded.TrySetException(ex);
                }

                recorded = new bool[group.Count];
            }

            await RecordHealthAsync(group, recorded);

            group.Clear();
            outcomes.Clear();
        }
    }

    /// <summary>Outcomes of claims that were taken over say nothing new: the newer claim's outcome counts.</summary>
    private async Task RecordHealthAsync(List<Pending> group, bool[] recorded)
    {
        var now = _time.GetTimestamp();
        var changes = new List<(Guid SubscriberId, bool Succeeded)>();
        foreach (var subscriber in group.Where((_, i) => recorded[i]).GroupBy(p => p.SubscriberId))
        {
            var succeeded = subscriber.Any(p => p.Outcome.Status == "delivered");
            // Unchanged and written within the resolution: the row already says so (or another replica's write
            // that contradicts it is at most that old).
            if (_health.TryGetValue(subscriber.Key, out var last) && last.Succeeded == succeeded &&
                _time.GetElapsedTime(last.At, now) < HealthResolution)
            {
                continue;
            }

            changes.Add((subscriber.Key, succeeded));
        }

        if (changes.Count == 0)
        {
            return;
        }

        try
        {
            await _recording.ExecuteAsync(
                async token => await _subscribers.RecordHealthAsync(changes, HealthResolution, token), CancellationToken.None);
            foreach (var (id, succeeded) in changes)
            {
                _health[id] = (succeeded, now);
            }
        }
        catch (Exception ex)
        {
            // Not written: the next outcome of these subscribers tries again, as nothing was remembered.
            LogHealthFailed(ex);
        }
    }

    /// <summary>Writes what is queued, then stops; the lanes have stopped before the container disposes this.</summary>
    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _writing;
    }

    private sealed record Pending(Guid SubscriberId, AttemptOutcome Outcome, TaskCompletionSource<bool> Recorded);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Recording delivery outcomes failed (try {Try}); retrying")]
    private partial void LogRecordingRetry(Exception? exception, int @try);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Recording subscribers' last success and failing streaks failed")]
    private partial void LogHealthFailed(Exception exception);
}
