using System.Globalization;
using Spectre.Console;

namespace Aspire.Webhooks.EndToEndBench.Reporting;

/// <summary>The summary printed at the end of a run.</summary>
public static class ResultTables
{
    public static void Write(EndToEndReport report)
    {
        var inv = CultureInfo.InvariantCulture;
        var runs = new Table().Title("End to end: myKaarma -> Receiver -> RabbitMQ -> Relay -> subscriber");
        foreach (var column in new[] { "run", "load", "accepted/s", "delivered/s", "not accepted", "p50 ms", "p90 ms", "p99 ms",
                     "max ms", "backlog / drain", "cores busy" })
        {
            runs.AddColumn(column);
        }

        foreach (var run in new[] { report.Closed, report.Open, report.Sustained }.OfType<LoadRunResult>())
        {
            runs.AddRow(run.Name, run.Load, run.AcceptedPerSecond.ToString("N0", inv), run.DeliveredPerSecond.ToString("N0", inv),
                run.NotAccepted.Values.Sum().ToString(inv), Num(run.EndToEnd.P50Ms), Num(run.EndToEnd.P90Ms),
                Num(run.EndToEnd.P99Ms), Num(run.EndToEnd.MaxMs),
                Markup.Escape($"{run.BacklogAtEnd} / {(run.Drained ? $"{run.DrainSeconds:F1}s" : "not drained")}"),
                Markup.Escape(Cores(run.CpuCores)));
        }

        AnsiConsole.Write(runs);

        var ceilings = new Table().Title("Ceilings on this machine, same run");
        ceilings.AddColumn("ceiling");
        ceilings.AddColumn("what");
        ceilings.AddColumn("per second");
        ceilings.AddColumn("p99 ms");
        if (report.BrokerCeiling is { } broker)
        {
            ceilings.AddRow("RabbitMQ", $"LoadGen raw: {broker.Publishers} publishers, persistent publish + confirm, quorum queue",
                broker.PublishesPerSecond.ToString("N0", inv), broker.P99Ms?.ToString(inv) ?? "-");
        }

        var outbox = report.OutboxCeiling;
        ceilings.AddRow("PostgreSQL outbox",
            Markup.Escape(string.Create(inv, $"EventWriter, {outbox.Writers} writers, {outbox.DeliveriesPerEvent} deliveries/event; {Cores(report.OutboxCeilingCpuCores)}")),
            outbox.StoredPerSecond.ToString("N0", inv), Num(outbox.Latency.P99Ms));
        AnsiConsole.Write(ceilings);
        if (report.DeliveredToCeilingRatio is { } ratio)
        {
            AnsiConsole.MarkupLine(string.Create(inv, $"delivered/s ÷ lower ceiling = [bold]{ratio:F2}[/]"));
        }

        var sinks = new Table().Title("What each subscriber received (whole run)");
        sinks.AddColumn("subscriber");
        sinks.AddColumn("received");
        sinks.AddColumn("duplicates");
        sinks.AddColumn("bad signatures");
        sinks.AddColumn("by event type");
        foreach (var (name, counts) in report.Sinks.OrderBy(s => s.Key, StringComparer.Ordinal))
        {
            sinks.AddRow(Markup.Escape(name), counts.Received.ToString(inv), counts.Duplicates.ToString(inv),
                counts.BadSignatures.ToString(inv),
                Markup.Escape(string.Join(", ", counts.ByEventType.OrderBy(t => t.Key, StringComparer.Ordinal).Select(t => $"{t.Key} {t.Value}"))));
        }

        AnsiConsole.Write(sinks);

        var targets = new Table().Title("Targets");
        targets.AddColumn("target");
        targets.AddColumn("measured");
        targets.AddColumn("verdict");
        foreach (var target in report.Targets)
        {
            targets.AddRow(Markup.Escape(target.Target), Markup.Escape(target.Measured), target.Met ? "[green]met[/]" : "[red]missed[/]");
        }

        AnsiConsole.Write(targets);
    }

    private static string Num(double value) => value.ToString("0.##", CultureInfo.InvariantCulture);

    private static string Cores(IReadOnlyDictionary<string, double> cores) =>
        string.Join(" ", cores.OrderBy(c => c.Key == "machine" ? "" : c.Key, StringComparer.Ordinal)
            .Select(c => string.Create(CultureInfo.InvariantCulture, $"{c.Key} {c.Value:0.00}")));
}
