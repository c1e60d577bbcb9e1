using System.Diagnostics;
using System.Globalization;
using Aspire.Webhooks.EndToEndBench.Ceilings;
using Aspire.Webhooks.EndToEndBench.Load;
using Aspire.Webhooks.EndToEndBench.Measurement;
using Aspire.Webhooks.EndToEndBench.Reporting;
using Aspire.Webhooks.EndToEndBench.Sink;
using Aspire.Webhooks.LoadGen.Workload;

namespace Aspire.Webhooks.EndToEndBench;

/// <summary>Runs the load runs and the outbox ceiling, then prints and writes the report.</summary>
public sealed class BenchRunner(BenchSettings settings)
{
    // The product's targets on this machine, at the loads they are stated for.
    public const double TargetDeliveredPerSecond = 1000;
    public const double TargetP99Ms = 250;
    public const double TargetOpenRate = 500;
    private const int MaxInFlight = 4096;

    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        var samplesDirectory = SampleEvents.FindDirectory()
            ?? throw new FormatException("samples/mykaarma not found above the current or the tool's folder.");
        var root = new DirectoryInfo(samplesDirectory).Parent!.Parent!.FullName;
        var samples = SampleEvents.Load(samplesDirectory, settings.Secret!);
        var startedAt = DateTimeOffset.UtcNow;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"end-to-end: {settings.Concurrency} senders closed, {settings.Rate:0.##}/s open, {settings.WarmUp.TotalSeconds:0.#}s warm-up + " +
            $"{settings.Duration.TotalSeconds:0.#}s each; {settings.Subscribers.Count} subscribers; {Environment.ProcessorCount} cores"));

        var tracker = new DeliveryTracker();
        await using var sinks = new SubscriberSinks(settings.Subscribers, settings.MatchAll, tracker);
        await sinks.StartAsync(settings.SinkPort, cancellationToken);
        using var poster = new WebhookPoster(settings.Receiver!, settings.Token!, samples, tracker,
            Math.Max(settings.Concurrency, MaxInFlight));

        // One event of each kind through the whole pipeline before any load: wiring, secrets and filters work.
        var probe = LoadPhase.StartingNow("probe", TimeSpan.Zero, TimeSpan.Zero);
        for (var i = 0; i < 4; i++)
        {
            await poster.SendAsync(probe, Stopwatch.GetTimestamp(), cancellationToken);
        }

        if (probe.Accepted != 4 || !await DrainAsync(probe, TimeSpan.FromSeconds(60), cancellationToken))
        {
            Console.Error.WriteLine($"The probe events did not make it through: {probe.Accepted} of 4 accepted " +
                $"({string.Join(", ", probe.Failures.Select(f => $"{f.Key}: {f.Value}"))}), {probe.Delivered} delivered.");
            return 1;
        }

        var closed = await LoadRunAsync(LoadPhase.StartingNow("closed", settings.WarmUp, settings.Duration),
            $"{settings.Concurrency} senders", phase => LoadLoops.ClosedAsync(poster, phase, settings.Concurrency, cancellationToken),
            cancellationToken);
        var open = await LoadRunAsync(LoadPhase.StartingNow("open", settings.WarmUp, settings.Duration),
            string.Create(CultureInfo.InvariantCulture, $"{settings.Rate:0.##} events/s"),
            phase => LoadLoops.OpenAsync(poster, phase, settings.Rate, MaxInFlight, cancellationToken), cancellationToken);
        // The closed loop overdrives ingest, so what it delivers says how the CPU was shared, not what the system
        // sustains; a fixed offered rate that the subscriber still receives in full, with no backlog left, does.
        LoadRunResult? sustained = null;
        if (settings.SustainedRate > 0)
        {
            sustained = await LoadRunAsync(LoadPhase.StartingNow("sustained", settings.WarmUp, settings.Duration),
                string.Create(CultureInfo.InvariantCulture, $"{settings.SustainedRate:0.##} events/s"),
                phase => LoadLoops.OpenAsync(poster, phase, settings.SustainedRate, MaxInFlight, cancellationToken), cancellationToken);
        }

        Console.WriteLine($"outbox ceiling: {settings.ConsumerConcurrency} writers, EventWriter (grouped commits), " +
            $"{settings.CeilingWarmUp.TotalSeconds:0.#}s warm-up + {settings.CeilingDuration.TotalSeconds:0.#}s");
        var cpu = new CpuUsage(settings.Watched);
        cpu.Start();
        var outbox = await OutboxCeiling.RunAsync(settings.Database!, Path.Combine(root, "Relay", "Outbox", "Migrations"),
            samples, settings.ConsumerConcurrency, settings.CeilingWarmUp, settings.CeilingDuration, cancellationToken);
        var outboxCpu = cpu.Stop();
        var broker = BrokerCeiling.Read(settings.BrokerCeilingFile);

        var report = EndToEndReport.Create(settings, startedAt, closed, open, sustained, broker, outbox, outboxCpu, sinks.Counts(),
            tracker.Unmatched);
        ResultTables.Write(report);
        var path = await report.WriteAsync(settings.ResultsDirectory ?? Path.Combine(root, "bench", "results"), cancellationToken);
        Console.WriteLine($"Results written to {path}");
        return 0;
    }

    private async Task<LoadRunResult> LoadRunAsync(LoadPhase phase, string load, Func<LoadPhase, Task> loop,
        CancellationToken cancellationToken)
    {
        Console.WriteLine($"{phase.Name}: {load}");
        var cpu = MeasureCpuAsync(phase, cancellationToken);
        using var progressStop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var progress = ProgressAsync(phase, progressStop.Token);
        await loop(phase);
        var backlogAtEnd = phase.Outstanding;
        var sendingStopped = Stopwatch.GetTimestamp();
        var drained = await DrainAsync(phase, settings.DrainTimeout, cancellationToken);
        var drainSeconds = LoadPhase.Seconds((drained ? phase.LastDelivery : Stopwatch.GetTimestamp()) - sendingStopped);
        await progressStop.CancelAsync();
        await progress;
        var result = LoadRunResult.From(phase, load, backlogAtEnd, drained, Math.Max(0, drainSeconds), await cpu);
        var drain = drained
            ? string.Create(CultureInfo.InvariantCulture, $"drained in {result.DrainSeconds:F1}s")
            : string.Create(CultureInfo.InvariantCulture, $"NOT drained within {settings.DrainTimeout.TotalSeconds:0}s");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{phase.Name}: accepted {result.AcceptedPerSecond:N0}/s, delivered {result.DeliveredPerSecond:N0}/s to '{settings.MatchAll}'; " +
            $"end to end p50 {result.EndToEnd.P50Ms} ms, p99 {result.EndToEnd.P99Ms} ms; backlog at end {backlogAtEnd}, {drain}"));
        return result;
    }

    /// <summary>Waits until every accepted event of the run reached the match-all subscriber, or the timeout.</summary>
    private static async Task<bool> DrainAsync(LoadPhase phase, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        while (phase.Outstanding > 0)
        {
            if (Stopwatch.GetTimestamp() > deadline)
            {
                return false;
            }

            await Task.Delay(50, cancellationToken);
        }

        return true;
    }

    private async Task ProgressAsync(LoadPhase phase, CancellationToken cancellationToken)
    {
        long accepted = 0, delivered = 0;
        while (phase.Outstanding > 0 || Stopwatch.GetTimestamp() < phase.End)
        {
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(5), cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            var now = Stopwatch.GetTimestamp();
            var stage = now < phase.MeasureFrom ? "warm-up" : now < phase.End ? "measuring" : "draining";
            var (a, d) = (phase.Accepted, phase.Delivered);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {phase.Name} {stage,-9} accepted {a,7} (+{(a - accepted) / 5.0,6:N0}/s)  delivered {d,7} (+{(d - delivered) / 5.0,6:N0}/s)  backlog {a - d,6}"));
            (accepted, delivered) = (a, d);
        }
    }

    private async Task<IReadOnlyDictionary<string, double>> MeasureCpuAsync(LoadPhase phase, CancellationToken cancellationToken)
    {
        var cpu = new CpuUsage(settings.Watched);
        await Task.Delay(Until(phase.MeasureFrom), cancellationToken);
        cpu.Start();
        await Task.Delay(Until(phase.End), cancellationToken);
        return cpu.Stop();

        static TimeSpan Until(long timestamp) =>
            TimeSpan.FromSeconds(Math.Max(0, LoadPhase.Seconds(timestamp - Stopwatch.GetTimestamp())));
    }
}
