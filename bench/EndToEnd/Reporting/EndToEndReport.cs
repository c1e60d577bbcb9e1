using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Aspire.Webhooks.EndToEndBench.Ceilings;
using Aspire.Webhooks.EndToEndBench.Load;
using Aspire.Webhooks.EndToEndBench.Sink;

namespace Aspire.Webhooks.EndToEndBench.Reporting;

/// <summary>One load run as measured at the match-all subscriber.</summary>
public sealed record LoadRunResult
{
    public required string Name { get; init; }
    public required string Load { get; init; }
    public required double MeasuredSeconds { get; init; }
    /// <summary>Posts answered 202 whose (intended) send fell in the measured window, per second.</summary>
    public required double AcceptedPerSecond { get; init; }
    /// <summary>Events first received by the match-all subscriber during the measured window, per second.</summary>
    public required double DeliveredPerSecond { get; init; }
    public required long MeasuredAccepted { get; init; }
    /// <summary>Of the measured accepted events, those the match-all subscriber received (by the end of the drain).</summary>
    public required long MeasuredDelivered { get; init; }
    public required IReadOnlyDictionary<string, long> NotAccepted { get; init; }
    /// <summary>Intended send (myKaarma's POST) to the match-all sink's receipt.</summary>
    public required Percentiles EndToEnd { get; init; }
    /// <summary>Intended send to the Receiver's 202.</summary>
    public required Percentiles Accept { get; init; }
    public required long BacklogAtEnd { get; init; }
    public required bool Drained { get; init; }
    public required double DrainSeconds { get; init; }
    public required IReadOnlyDictionary<string, double> CpuCores { get; init; }

    public static LoadRunResult From(LoadPhase phase, string load, long backlogAtEnd, bool drained, double drainSeconds,
        IReadOnlyDictionary<string, double> cpu) => new()
    {
        Name = phase.Name,
        Load = load,
        MeasuredSeconds = Math.Round(phase.MeasuredSeconds, 2),
        AcceptedPerSecond = Math.Round(phase.MeasuredAccepted / phase.MeasuredSeconds, 1),
        DeliveredPerSecond = Math.Round(phase.DeliveredInWindow / phase.MeasuredSeconds, 1),
        MeasuredAccepted = phase.MeasuredAccepted,
        MeasuredDelivered = phase.MeasuredDelivered,
        NotAccepted = phase.Failures.ToDictionary(f => f.Key, f => f.Value),
        EndToEnd = phase.EndToEndLatency(),
        Accept = phase.AcceptLatency(),
        BacklogAtEnd = backlogAtEnd,
        Drained = drained,
        DrainSeconds = Math.Round(drainSeconds, 2),
        CpuCores = cpu,
    };
}

public sealed record TargetCheck(string Target, string Measured, bool Met);

/// <summary>Everything one run of bench/end-to-end.sh measured, written to bench/results/end-to-end-TIMESTAMP.json.</summary>
public sealed record EndToEndReport
{
    public required DateTimeOffset StartedAt { get; init; }
    public required int Cores { get; init; }
    public required string Runtime { get; init; }
    public required int Senders { get; init; }
    public required double OpenRate { get; init; }
    public required string MatchAllSubscriber { get; init; }
    public required LoadRunResult Closed { get; init; }
    public required LoadRunResult Open { get; init; }
    /// <summary>The open loop at the sustained rate; null when it was skipped.</summary>
    public LoadRunResult? Sustained { get; init; }
    public BrokerCeilingResult? BrokerCeiling { get; init; }
    public required OutboxCeilingResult OutboxCeiling { get; init; }
    public required IReadOnlyDictionary<string, double> OutboxCeilingCpuCores { get; init; }
    /// <summary>Closed-loop delivered/s divided by the lower of the two ceilings.</summary>
    public double? DeliveredToCeilingRatio { get; init; }
    public required IReadOnlyDictionary<string, SinkCounts> Sinks { get; init; }
    public required long UnmatchedDeliveries { get; init; }
    public required IReadOnlyList<TargetCheck> Targets { get; init; }

    public static EndToEndReport Create(BenchSettings settings, DateTimeOffset startedAt, LoadRunResult closed, LoadRunResult open,
        LoadRunResult? sustained, BrokerCeilingResult? broker, OutboxCeilingResult outbox, IReadOnlyDictionary<string, double> outboxCpu,
        IReadOnlyDictionary<string, SinkCounts> sinks, long unmatched)
    {
        var lower = broker is null ? outbox.StoredPerSecond : Math.Min(broker.PublishesPerSecond, outbox.StoredPerSecond);
        // Events that never arrived have no latency; past 1% of them the 99th percentile would be a guess.
        var missing = open.MeasuredAccepted - open.MeasuredDelivered + open.NotAccepted.Values.Sum();
        var sent = open.MeasuredAccepted + open.NotAccepted.Values.Sum();
        var inv = CultureInfo.InvariantCulture;
        return new EndToEndReport
        {
            StartedAt = startedAt,
            Cores = Environment.ProcessorCount,
            Runtime = System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription,
            Senders = settings.Concurrency,
            OpenRate = settings.Rate,
            MatchAllSubscriber = settings.MatchAll,
            Closed = closed,
            Open = open,
            Sustained = sustained,
            BrokerCeiling = broker,
            OutboxCeiling = outbox,
            OutboxCeilingCpuCores = outboxCpu,
            DeliveredToCeilingRatio = lower > 0 ? Math.Round(closed.DeliveredPerSecond / lower, 3) : null,
            Sinks = sinks,
            UnmatchedDeliveries = unmatched,
            Targets =
            [
                SustainedTarget(sustained),
                new($"p99 end to end < {BenchRunner.TargetP99Ms:0} ms at {BenchRunner.TargetOpenRate:0} events/s (open loop)",
                    string.Create(inv, $"p99 {open.EndToEnd.P99Ms} ms, {missing} of {sent} not delivered"),
                    settings.Rate == BenchRunner.TargetOpenRate && missing * 100 <= sent && open.EndToEnd.P99Ms < BenchRunner.TargetP99Ms),
            ],
        };
    }

    /// <summary>
    /// Delivered to the match-all subscriber at the target rate or more while keeping up: every measured event received
    /// and at most one second of load still on its way when sending stopped.
    /// </summary>
    private static TargetCheck SustainedTarget(LoadRunResult? sustained)
    {
        var target = $">= {TargetText(BenchRunner.TargetDeliveredPerSecond)} events/s delivered to one subscriber, kept up with (sustained open loop)";
        if (sustained is null)
        {
            return new(target, "not run", false);
        }

        var keptUp = sustained.Drained && sustained.MeasuredDelivered == sustained.MeasuredAccepted &&
            sustained.BacklogAtEnd <= sustained.AcceptedPerSecond;
        return new(target,
            string.Create(CultureInfo.InvariantCulture,
                $"{sustained.DeliveredPerSecond:N1}/s of {sustained.AcceptedPerSecond:N1}/s accepted, backlog at end {sustained.BacklogAtEnd}{(sustained.Drained ? "" : ", not drained")}"),
            keptUp && sustained.DeliveredPerSecond >= BenchRunner.TargetDeliveredPerSecond);
    }

    private static string TargetText(double value) => value.ToString("N0", CultureInfo.InvariantCulture);

    public async Task<string> WriteAsync(string directory, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, $"end-to-end-{StartedAt.UtcDateTime:yyyyMMdd-HHmmss}.json");
        await using var file = File.Create(path);
        await JsonSerializer.SerializeAsync(file, this, ReportJson.Default.EndToEndReport, cancellationToken);
        return path;
    }
}

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, WriteIndented = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(EndToEndReport))]
internal sealed partial class ReportJson : JsonSerializerContext;
