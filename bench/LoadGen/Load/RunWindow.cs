using System.Diagnostics;

namespace Aspire.Webhooks.LoadGen.Load;

/// <summary>The Stopwatch timestamps of one run: it starts, stops warming up (measuring from then) and stops sending.</summary>
public sealed record RunWindow(long Start, long MeasureFrom, long End)
{
    public static RunWindow StartingNow(TimeSpan warmUp, TimeSpan duration)
    {
        var start = Stopwatch.GetTimestamp();
        var measureFrom = start + (long)(warmUp.TotalSeconds * Stopwatch.Frequency);
        return new RunWindow(start, measureFrom, measureFrom + (long)(duration.TotalSeconds * Stopwatch.Frequency));
    }

    public double MeasuredSeconds => Seconds(End - MeasureFrom);

    public double TotalSeconds => Seconds(End - Start);

    public string Phase(long now) => now < MeasureFrom ? "warm-up" : now < End ? "measuring" : "draining";

    public static double Seconds(long stopwatchTicks) => (double)stopwatchTicks / Stopwatch.Frequency;
}

/// <summary>What a load loop knows beyond the recorder's counts.</summary>
public sealed record LoopStats(double MeasuredSeconds)
{
    public Measurement.LatencySummary? ScheduleLag { get; init; }

    public long? InFlightCapWaits { get; init; }

    public long? PeakInFlight { get; init; }
}
