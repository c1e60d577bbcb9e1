using System.Text.Json;
using System.Text.Json.Serialization;
using Aspire.Webhooks.LoadGen.Measurement;

namespace Aspire.Webhooks.LoadGen.Reporting;

/// <summary>Everything one invocation measured, as written to bench/results/receiver-TIMESTAMP.json.</summary>
public sealed record BenchReport
{
    public required DateTimeOffset StartedAt { get; init; }
    public required string Mode { get; init; }
    public required MachineInfo Machine { get; init; }
    public required ReportSettings Settings { get; init; }
    public required IReadOnlyList<RunResult> Runs { get; init; }

    /// <summary>Receiver closed-loop accepted/s divided by raw publishes/s, when both ran.</summary>
    public double? ReceiverToRawRatio { get; init; }

    /// <summary>The same ratio within each alternating pair of raw and closed slices, in the order they ran.</summary>
    public IReadOnlyList<double>? PairRatios { get; init; }

    public required IReadOnlyList<TargetCheck> Targets { get; init; }

    public async Task<string> WriteAsync(string directory, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, $"receiver-{StartedAt.UtcDateTime:yyyyMMdd-HHmmss}.json");
        await using var file = File.Create(path);
        await JsonSerializer.SerializeAsync(file, this, BenchReportJson.Default.BenchReport, cancellationToken);
        return path;
    }
}

public sealed record MachineInfo(int Cores, string Os, string Runtime)
{
    public static MachineInfo Current { get; } = new(Environment.ProcessorCount,
        System.Runtime.InteropServices.RuntimeInformation.OSDescription,
        System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription);
}

/// <summary>The settings that shape the numbers; credentials are deliberately absent.</summary>
public sealed record ReportSettings(int Concurrency, double Rate, double DurationSeconds, double WarmUpSeconds,
    string Url, string Broker, int MaxInFlight, int Pairs, double ReceiverWarmUpSeconds);

/// <summary>One of the product's performance targets and whether this run met it.</summary>
public sealed record TargetCheck(string Target, string Measured, bool? Met);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, WriteIndented = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(BenchReport))]
internal sealed partial class BenchReportJson : JsonSerializerContext;
