using System.Collections.Concurrent;
using System.Diagnostics;
using HdrHistogram;

namespace Aspire.Webhooks.LoadGen.Measurement;

/// <summary>What a progress line shows: totals since the run started, warm-up included.</summary>
public readonly record struct ProgressSnapshot(long Started, long Accepted, long Failed, long InFlight);

/// <summary>
/// Counts every request of one run for the progress display, and keeps the measured ones (those whose start, or
/// intended start, falls after the warm-up) in an HdrHistogram of microseconds for the final percentiles.
/// </summary>
public sealed class RunRecorder(long measureFrom)
{
    // One minute is far beyond any timeout in play; anything slower is clamped rather than lost.
    private const long HighestMicros = 60_000_000;

    private readonly LongConcurrentHistogram _latency = new(1, HighestMicros, 3);
    private readonly ConcurrentDictionary<string, long> _failures = new(StringComparer.Ordinal);
    private long _started;
    private long _completed;
    private long _accepted;
    private long _failed;
    private long _measuredSent;
    private long _measuredAccepted;

    /// <summary>The Stopwatch timestamp from which requests count in the results.</summary>
    public long MeasureFrom { get; } = measureFrom;

    public long MeasuredSent => Interlocked.Read(ref _measuredSent);

    public long MeasuredAccepted => Interlocked.Read(ref _measuredAccepted);

    public IReadOnlyDictionary<string, long> Failures => _failures.ToDictionary(f => f.Key, f => f.Value);

    public void Started() => Interlocked.Increment(ref _started);

    /// <param name="from">When the request was sent, or in an open loop when it should have been.</param>
    public void Completed(long from, long to, Outcome outcome)
    {
        Interlocked.Increment(ref _completed);
        Interlocked.Increment(ref outcome.IsAccepted ? ref _accepted : ref _failed);
        if (from < MeasureFrom)
        {
            return;
        }

        Interlocked.Increment(ref _measuredSent);
        if (outcome.IsAccepted)
        {
            Interlocked.Increment(ref _measuredAccepted);
            _latency.RecordValue(Math.Clamp(ToMicros(to - from), 1, HighestMicros));
        }
        else
        {
            _failures.AddOrUpdate(outcome.Failure!, 1, static (_, n) => n + 1);
        }
    }

    public ProgressSnapshot Snapshot()
    {
        var started = Interlocked.Read(ref _started);
        return new ProgressSnapshot(started, Interlocked.Read(ref _accepted), Interlocked.Read(ref _failed),
            started - Interlocked.Read(ref _completed));
    }

    /// <summary>A copy of the measured latencies, to summarise and to add several runs into one summary.</summary>
    public HistogramBase LatencyHistogram() => _latency.Copy();

    public static long ToMicros(long stopwatchTicks) => stopwatchTicks * 1_000_000 / Stopwatch.Frequency;
}

/// <summary>Percentiles of one histogram, in microseconds.</summary>
public sealed record LatencySummary(long Count, double MeanMicros, long P50Micros, long P90Micros, long P99Micros,
    long P999Micros, long MaxMicros)
{
    public static LatencySummary Empty { get; } = new(0, 0, 0, 0, 0, 0, 0);

    public static LatencySummary From(HistogramBase histogram) => histogram.TotalCount == 0
        ? Empty
        : new LatencySummary(
            histogram.TotalCount,
            Math.Round(histogram.GetMean(), 1),
            histogram.GetValueAtPercentile(50),
            histogram.GetValueAtPercentile(90),
            histogram.GetValueAtPercentile(99),
            histogram.GetValueAtPercentile(99.9),
            histogram.GetMaxValue());
}
