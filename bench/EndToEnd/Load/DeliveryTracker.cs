using System.Collections.Concurrent;
using System.Diagnostics;
using HdrHistogram;

namespace Aspire.Webhooks.EndToEndBench.Load;

/// <summary>
/// One load run's window and what arrived at the match-all subscriber for it: deliveries whose receipt falls in the
/// measured window (throughput) and, for events due in that window, the time from myKaarma's intended send to the
/// sink's receipt (latency).
/// </summary>
public sealed class LoadPhase(string name, long start, long measureFrom, long end)
{
    private const long HighestMicros = 600_000_000;
    private readonly LongConcurrentHistogram _latency = new(1, HighestMicros, 3);
    private readonly LongConcurrentHistogram _accept = new(1, HighestMicros, 3);
    private long _accepted;
    private long _measuredAccepted;
    private long _deliveredInWindow;
    private long _measuredDelivered;
    private long _delivered;
    private long _lastDelivery;

    public string Name { get; } = name;
    public long Start { get; } = start;
    public long MeasureFrom { get; } = measureFrom;
    public long End { get; } = end;
    public ConcurrentDictionary<string, long> Failures { get; } = new(StringComparer.Ordinal);

    public double MeasuredSeconds => Seconds(End - MeasureFrom);
    public long Accepted => Interlocked.Read(ref _accepted);
    public long MeasuredAccepted => Interlocked.Read(ref _measuredAccepted);
    public long Delivered => Interlocked.Read(ref _delivered);
    public long DeliveredInWindow => Interlocked.Read(ref _deliveredInWindow);
    public long MeasuredDelivered => Interlocked.Read(ref _measuredDelivered);
    public long Outstanding => Accepted - Delivered;
    public long LastDelivery => Interlocked.Read(ref _lastDelivery);

    public static LoadPhase StartingNow(string name, TimeSpan warmUp, TimeSpan duration)
    {
        var start = Stopwatch.GetTimestamp();
        var measureFrom = start + (long)(warmUp.TotalSeconds * Stopwatch.Frequency);
        return new LoadPhase(name, start, measureFrom, measureFrom + (long)(duration.TotalSeconds * Stopwatch.Frequency));
    }

    public void Accept(long intended, long answered)
    {
        Interlocked.Increment(ref _accepted);
        if (intended >= MeasureFrom && intended < End)
        {
            Interlocked.Increment(ref _measuredAccepted);
            _accept.RecordValue(Math.Clamp(Micros(answered - intended), 1, HighestMicros));
        }
    }

    public void Fail(long intended, string reason)
    {
        if (intended >= MeasureFrom && intended < End)
        {
            Failures.AddOrUpdate(reason, 1, static (_, n) => n + 1);
        }
    }

    public void Deliver(long intended, long received)
    {
        Interlocked.Increment(ref _delivered);
        InterlockedMax(ref _lastDelivery, received);
        if (received >= MeasureFrom && received < End)
        {
            Interlocked.Increment(ref _deliveredInWindow);
        }

        if (intended >= MeasureFrom && intended < End)
        {
            Interlocked.Increment(ref _measuredDelivered);
            _latency.RecordValue(Math.Clamp(Micros(received - intended), 1, HighestMicros));
        }
    }

    public Percentiles EndToEndLatency() => Percentiles.From(_latency.Copy());

    public Percentiles AcceptLatency() => Percentiles.From(_accept.Copy());

    public static double Seconds(long ticks) => (double)ticks / Stopwatch.Frequency;

    private static long Micros(long ticks) => ticks * 1_000_000 / Stopwatch.Frequency;

    private static void InterlockedMax(ref long location, long value)
    {
        for (var current = Interlocked.Read(ref location); value > current;
             current = Interlocked.Read(ref location))
        {
            if (Interlocked.CompareExchange(ref location, value, current) == current)
            {
                return;
            }
        }
    }
}

/// <summary>Latency percentiles in milliseconds.</summary>
public sealed record Percentiles(long Count, double P50Ms, double P90Ms, double P99Ms, double P999Ms, double MaxMs)
{
    public static Percentiles From(HistogramBase histogram) => histogram.TotalCount == 0
        ? new Percentiles(0, 0, 0, 0, 0, 0)
        : new Percentiles(histogram.TotalCount, Ms(histogram.GetValueAtPercentile(50)), Ms(histogram.GetValueAtPercentile(90)),
            Ms(histogram.GetValueAtPercentile(99)), Ms(histogram.GetValueAtPercentile(99.9)), Ms(histogram.GetMaxValue()));

    private static double Ms(long micros) => Math.Round(micros / 1000.0, 2);
}

/// <summary>
/// Which load run each sent event belongs to and when it was meant to leave, until its first delivery to the
/// match-all subscriber arrives. Redeliveries of an event (at least once) are counted, not measured twice.
/// </summary>
public sealed class DeliveryTracker
{
    private readonly ConcurrentDictionary<string, (LoadPhase Phase, long Intended)> _pending = new(StringComparer.Ordinal);
    private long _unknown;

    /// <summary>Deliveries of events this process never sent or already saw delivered (redeliveries, probes).</summary>
    public long Unmatched => Interlocked.Read(ref _unknown);

    public void Sending(string eventId, LoadPhase phase, long intended) => _pending[eventId] = (phase, intended);

    public void NotAccepted(string eventId) => _pending.TryRemove(eventId, out _);

    public void Delivered(string eventId, long received)
    {
        if (_pending.TryRemove(eventId, out var sent))
        {
            sent.Phase.Deliver(sent.Intended, received);
        }
        else
        {
            Interlocked.Increment(ref _unknown);
        }
    }
}
