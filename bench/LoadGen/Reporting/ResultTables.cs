using System.Globalization;
using Aspire.Webhooks.LoadGen.Measurement;
using Spectre.Console;

namespace Aspire.Webhooks.LoadGen.Reporting;

/// <summary>The tables printed after each run and at the end.</summary>
public static class ResultTables
{
    public static void WriteSummary(IReadOnlyList<RunResult> runs, double? ratio, IReadOnlyList<double>? pairRatios,
        IReadOnlyList<TargetCheck> targets)
    {
        var table = new Table().Title("Results (latency in ms; open loop measures from the intended send time)")
            .AddColumn("run")
            .AddColumn("load")
            .AddColumn(new TableColumn("accepted/s").RightAligned())
            .AddColumn(new TableColumn("accepted").RightAligned())
            .AddColumn("not accepted")
            .AddColumn(new TableColumn("p50").RightAligned())
            .AddColumn(new TableColumn("p90").RightAligned())
            .AddColumn(new TableColumn("p99").RightAligned())
            .AddColumn(new TableColumn("p99.9").RightAligned())
            .AddColumn(new TableColumn("max").RightAligned())
            .AddColumn("cores busy");
        foreach (var run in runs)
        {
            table.AddRow(
                run.Name,
                run.Load,
                Format(run.AcceptedPerSecond, "N0"),
                Format(run.Accepted, "N0"),
                Markup.Escape(Failures(run)),
                Millis(run.Latency.P50Micros),
                Millis(run.Latency.P90Micros),
                Millis(run.Latency.P99Micros),
                Millis(run.Latency.P999Micros),
                Millis(run.Latency.MaxMicros),
                Markup.Escape(Cpu(run)));
        }

        AnsiConsole.Write(table);

        foreach (var run in runs.Where(r => r.ScheduleLag is not null))
        {
            AnsiConsole.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{run.Name}: schedule lag (how late this tool fired; included above) p99 {Millis(run.ScheduleLag!.P99Micros)} ms, " +
                $"max {Millis(run.ScheduleLag.MaxMicros)} ms; peak in flight {run.PeakInFlight}; " +
                $"sends that waited for the in-flight cap: {run.InFlightCapWaits}"));
        }

        if (ratio is { } value)
        {
            AnsiConsole.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"Receiver closed accepted/s / raw publishes/s = {value:F3}"));
        }

        if (pairRatios is { Count: > 1 })
        {
            AnsiConsole.WriteLine("  within each pair of slices, in order: " +
                string.Join(", ", pairRatios.Select(r => r.ToString("F3", CultureInfo.InvariantCulture))));
        }

        if (targets.Count > 0)
        {
            var checks = new Table().Title("Targets").AddColumn("target").AddColumn("measured").AddColumn("verdict");
            foreach (var check in targets)
            {
                checks.AddRow(Markup.Escape(check.Target), Markup.Escape(check.Measured), check.Met switch
                {
                    true => "[green]met[/]",
                    false => "[red]missed[/]",
                    null => "not measured at that load",
                });
            }

            AnsiConsole.Write(checks);
        }
    }

    public static string Millis(long micros) => (micros / 1000.0).ToString("F2", CultureInfo.InvariantCulture);

    private static string Format(double value, string format) => value.ToString(format, CultureInfo.InvariantCulture);

    private static string Failures(RunResult run) => run.Failures.Count == 0
        ? "0"
        : string.Join(", ", run.Failures.OrderByDescending(f => f.Value).Select(f =>
            string.Create(CultureInfo.InvariantCulture, $"{f.Key}: {f.Value}")));

    private static string Cpu(RunResult run) => string.Join(" ", run.CpuCores.Select(c =>
        string.Create(CultureInfo.InvariantCulture, $"{c.Key} {c.Value:F2}")));
}
