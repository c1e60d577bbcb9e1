using System.Diagnostics;
using Aspire.Webhooks.LoadGen.Measurement;

namespace Aspire.Webhooks.LoadGen.Load;

/// <summary>
/// A fixed number of workers, each sending again as soon as its previous answer arrived: the most a target
/// sustains at that concurrency. Its latencies are optimistic under overload (a slow answer delays the next send
/// instead of queueing it), which is why the open loop exists.
/// </summary>
public static class ClosedLoop
{
    /// <param name="send">Sends once for the given worker; turns every failure into an <see cref="Outcome"/>.</param>
    public static async Task<LoopStats> RunAsync(int concurrency, RunWindow window, RunRecorder recorder,
        Func<int, CancellationToken, Task<Outcome>> send, CancellationToken cancellationToken)
    {
        var workers = Enumerable.Range(0, concurrency)
            .Select(worker => Task.Run(async () =>
            {
                while (Stopwatch.GetTimestamp() < window.End)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    recorder.Started();
                    var sent = Stopwatch.GetTimestamp();
                    var outcome = await send(worker, cancellationToken);
                    recorder.Completed(sent, Stopwatch.GetTimestamp(), outcome);
                }
            }, cancellationToken))
            .ToArray();
        await Task.WhenAll(workers);

        // Up to the last answer: the sends started just before the end count, so their time counts too.
        return new LoopStats(RunWindow.Seconds(Stopwatch.GetTimestamp() - window.MeasureFrom));
    }
}
