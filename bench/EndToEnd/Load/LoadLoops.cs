using System.Diagnostics;

namespace Aspire.Webhooks.EndToEndBench.Load;

/// <summary>The two ways of offering load: as fast as answers come back, or on myKaarma's own schedule.</summary>
public static class LoadLoops
{
    /// <summary>Each of <paramref name="senders"/> posts again as soon as its previous post was answered.</summary>
    public static Task ClosedAsync(WebhookPoster poster, LoadPhase phase, int senders, CancellationToken cancellationToken) =>
        Task.WhenAll(Enumerable.Range(0, senders).Select(_ => Task.Run(async () =>
        {
            while (Stopwatch.GetTimestamp() < phase.End)
            {
                await poster.SendAsync(phase, Stopwatch.GetTimestamp(), cancellationToken);
            }
        }, cancellationToken)));

    /// <summary>
    /// Post <i>i</i> is due at start + <i>i</i>/rate whatever the answers do, and its latency runs from that time, so a
    /// stall anywhere in the pipeline shows as the queue behind it rather than as posts never sent. The schedule runs on
    /// its own thread and sleeps between posts (a spinning scheduler would take a core from the services measured);
    /// its lateness is part of every latency.
    /// </summary>
    public static async Task OpenAsync(WebhookPoster poster, LoadPhase phase, double rate, int maxInFlight,
        CancellationToken cancellationToken)
    {
        var slots = new SemaphoreSlim(maxInFlight, maxInFlight);
        var interval = Stopwatch.Frequency / rate;
        var count = (long)((phase.End - phase.Start) / interval);
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var inFlight = 0L;
        var scheduler = new Thread(() =>
        {
            try
            {
                for (long i = 0; i < count; i++)
                {
                    var intended = phase.Start + (long)(i * interval);
                    for (var now = Stopwatch.GetTimestamp(); now < intended; now = Stopwatch.GetTimestamp())
                    {
                        cancellationToken.ThrowIfCancellationRequested();
                        Thread.Sleep(Math.Max(1, (int)((intended - now) * 1000 / Stopwatch.Frequency)));
                    }

                    slots.Wait(cancellationToken);
                    Interlocked.Increment(ref inFlight);
                    _ = Task.Run(async () =>
                    {
                        try
                        {
                            await poster.SendAsync(phase, intended, cancellationToken);
                        }
                        finally
                        {
                            slots.Release();
                            Interlocked.Decrement(ref inFlight);
                        }
                    }, CancellationToken.None);
                }

                done.SetResult();
            }
            catch (Exception ex)
            {
                done.SetException(ex);
            }
        })
        {
            IsBackground = true,
            Name = "open-loop schedule",
        };
        scheduler.Start();
        await done.Task;
        while (Interlocked.Read(ref inFlight) > 0)
        {
            await Task.Delay(10, cancellationToken);
        }
    }
}
