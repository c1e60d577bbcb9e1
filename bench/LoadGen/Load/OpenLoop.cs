using System.Diagnostics;
using Aspire.Webhooks.LoadGen.Measurement;
using HdrHistogram;

namespace Aspire.Webhooks.LoadGen.Load;

/// <summary>
/// Sends at a fixed rate whatever the target does: request i is due at start + i/rate, and its latency is taken
/// from that intended time. A target that stalls therefore shows the queue that built up behind the stall
/// (coordinated omission would hide it, as a closed loop does).
/// </summary>
public static class OpenLoop
{
    // The HTTP client gives up after 10 s; this leaves it room to report those as failures before we stop waiting.
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(15);

    public static async Task<LoopStats> RunAsync(double rate, int maxInFlight, RunWindow window, RunRecorder recorder,
        Func<CancellationToken, Task<Outcome>> send, CancellationToken cancellationToken)
    {
        var slots = new SemaphoreSlim(maxInFlight, maxInFlight);
        var lag = new LongHistogram(1, 60_000_000, 3);
        var interval = Stopwatch.Frequency / rate;
        var count = (long)Math.Floor((window.End - window.Start) / interval);
        long inFlight = 0, peakInFlight = 0, capWaits = 0;

        // A dedicated thread keeps the schedule independent of a busy thread pool; it sleeps between sends
        // rather than spinning, since on two cores a spinning scheduler would steal a core from the target.
        // Thread.Sleep's ~1 ms granularity makes some sends late; that lateness is reported as ScheduleLag and
        // is part of every latency, because latencies start at the intended time.
        var scheduled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var scheduler = new Thread(() =>
        {
            try
            {
                Schedule();
                scheduled.SetResult();
            }
            catch (OperationCanceledException ex)
            {
                scheduled.SetCanceled(ex.CancellationToken);
            }
            catch (Exception ex)
            {
                scheduled.SetException(ex);
            }
        })
        {
            IsBackground = true,
            Name = "open-loop schedule",
        };
        scheduler.Start();
        await scheduled.Task;

        var drainUntil = Stopwatch.GetTimestamp() + (long)(DrainTimeout.TotalSeconds * Stopwatch.Frequency);
        while (Interlocked.Read(ref inFlight) > 0 && Stopwatch.GetTimestamp() < drainUntil)
        {
            await Task.Delay(10, cancellationToken);
        }

        return new LoopStats(window.MeasuredSeconds)
        {
            ScheduleLag = LatencySummary.From(lag),
            InFlightCapWaits = capWaits,
            PeakInFlight = peakInFlight,
        };

        void Schedule()
        {
            Func<long, Task> sendOne = SendOneAsync;
            for (long i = 0; i < count; i++)
            {
                var intended = window.Start + (long)(i * interval);
                for (var now = Stopwatch.GetTimestamp(); now < intended; now = Stopwatch.GetTimestamp())
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    Thread.Sleep(Math.Max(1, (int)((intended - now) * 1000 / Stopwatch.Frequency)));
                }

                if (!slots.Wait(0, CancellationToken.None))
                {
                    capWaits++;
                    slots.Wait(cancellationToken);
                }

                recorder.Started();
                lag.RecordValue(Math.Clamp(RunRecorder.ToMicros(Stopwatch.GetTimestamp() - intended), 1, 60_000_000));
                peakInFlight = Math.Max(peakInFlight, Interlocked.Increment(ref inFlight));

                // Signing and writing the request run on the thread pool: done here, they would delay the sends
                // due after this one and make the schedule measure this tool's CPU rather than the target.
                ThreadPool.UnsafeQueueUserWorkItem(static state => _ = state.Send(state.Intended),
                    (Send: sendOne, Intended: intended), preferLocal: false);
            }
        }

        async Task SendOneAsync(long intended)
        {
            Outcome outcome;
            try
            {
                outcome = await send(cancellationToken);
            }
            catch (OperationCanceledException)
            {
                outcome = Outcome.Failed("cancelled");
            }

            recorder.Completed(intended, Stopwatch.GetTimestamp(), outcome);
            Interlocked.Decrement(ref inFlight);
            slots.Release();
        }
    }
}
