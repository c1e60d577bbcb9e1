namespace Aspire.Webhooks.LoadGen.Measurement;

/// <summary>The measured part of one run, as printed and as written to the results file.</summary>
public sealed record RunResult
{
    /// <summary>raw, closed or open.</summary>
    public required string Name { get; init; }

    /// <summary>The load in words, e.g. "32 senders" or "1000 events/s".</summary>
    public required string Load { get; init; }

    public int? Concurrency { get; init; }

    public double? OfferedRate { get; init; }

    public required double MeasuredSeconds { get; init; }

    /// <summary>Requests (or publishes) that belong to the measured window, answered or not.</summary>
    public required long Sent { get; init; }

    /// <summary>Answered 202 (HTTP) or confirmed by the broker (raw).</summary>
    public required long Accepted { get; init; }

    public required double AcceptedPerSecond { get; init; }

    /// <summary>Everything that was not accepted, by HTTP status or failure kind.</summary>
    public required IReadOnlyDictionary<string, long> Failures { get; init; }

    /// <summary>Send (open loop: intended send) to acceptance, accepted requests only.</summary>
    public required LatencySummary Latency { get; init; }

    /// <summary>Open loop only: how late the schedule itself fired requests (already included in the latency).</summary>
    public LatencySummary? ScheduleLag { get; init; }

    /// <summary>Open loop only: sends that found the in-flight cap reached and had to wait for a slot.</summary>
    public long? InFlightCapWaits { get; init; }

    /// <summary>Open loop only: the most requests outstanding at once.</summary>
    public long? PeakInFlight { get; init; }

    /// <summary>Average cores busy during the measured window: the machine, this tool and any watched process.</summary>
    public required IReadOnlyDictionary<string, double> CpuCores { get; init; }
}
