using System.Threading.Channels;
using Aspire.Webhooks.Relay.Outbox;
using Polly;
using Polly.Retry;

namespace Aspire.Webhooks.Relay.Delivery;

/// <summary>
/// Records attempt outcomes in groups: whatever finished while the previous group was being written goes into the
/// next statement, so under load many attempts share one round trip and one commit, and when idle an outcome is
/// written at once. Each caller learns whether its own outcome was recorded (false: its claim had been taken over).
/// </summary>
public sealed partial class OutcomeRecorder : IAsyncDisposable
{
    private const int MaxGroup = 512;

    private readonly OutboxStore _outbox;
    private readonly ILogger _logger;
    private readonly ResiliencePipeline _recording;
    private readonly Channel<Pending> _queue = Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _writing;

    public OutcomeRecorder(OutboxStore outbox, DeliveryOptions options, TimeProvider time, ILogger<OutcomeRecorder> logger)
    {
        _outbox = outbox;
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
    public Task<bool> RecordAsync(AttemptOutcome outcome)
    {
        var pending = new Pending(outcome, new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously));
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

            try
            {
                var recorded = await _recording.ExecuteAsync(
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
            }

            group.Clear();
            outcomes.Clear();
        }
    }

    /// <summary>Writes what is queued, then stops; the lanes have stopped before the container disposes this.</summary>
    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _writing;
    }

    private sealed record Pending(AttemptOutcome Outcome, TaskCompletionSource<bool> Recorded);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Recording delivery outcomes failed (try {Try}); retrying")]
    private partial void LogRecordingRetry(Exception? exception, int @try);
}
