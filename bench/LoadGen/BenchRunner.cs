using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using Aspire.Webhooks.LoadGen.Load;
using Aspire.Webhooks.LoadGen.Measurement;
using Aspire.Webhooks.LoadGen.Reporting;
using Aspire.Webhooks.LoadGen.Targets;
using Aspire.Webhooks.LoadGen.Workload;
using Spectre.Console;

namespace Aspire.Webhooks.LoadGen;

/// <summary>Runs the chosen mode(s), prints the results and writes them to the results folder.</summary>
public sealed class BenchRunner(BenchSettings settings, LiveProgress progress, TimeProvider time)
{
    // The product's targets, stated at the load they are defined for.
    private const int TargetConcurrency = 32;
    private const double TargetAcceptedPerSecond = 3000;
    private const double TargetRatioToRaw = 0.5;
    private const double TargetOpenRate = 1000;
    private const long TargetOpenP99Micros = 25_000;

    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        if (settings.Mode == BenchMode.Cleanup)
        {
            var messages = await BrokerTopology.DeleteAsync(settings.Amqp, settings.Queue!, cancellationToken);
            Console.WriteLine($"Deleted queue '{settings.Queue}', its exchange and its message-type exchanges ({messages} messages were in the queue).");
            return 0;
        }

        var samplesDirectory = settings.SamplesDirectory ?? SampleEvents.FindDirectory()
            ?? throw new FormatException("samples/mykaarma not found above the current or the tool's folder: pass --samples DIR.");
        // Raw alone needs no secret, but signing anyway keeps this tool's own work per event the same in every mode.
        var samples = SampleEvents.Load(samplesDirectory, settings.Secret ?? Convert.ToHexString(RandomNumberGenerator.GetBytes(32)));
        var startedAt = time.GetUtcNow();
        WriteHeader(samples);

        var runs = new List<RunResult>();
        if (settings.Mode is BenchMode.All or BenchMode.Raw or BenchMode.RawOpen)
        {
            runs.AddRange(await RawAsync(samples, cancellationToken));
        }

        if (settings.NeedsReceiver)
        {
            using var client = new ReceiverClient(settings.Url, settings.Token!, samples,
                Math.Max(settings.Concurrency, settings.MaxInFlight));
            var (status, detail) = await client.ProbeAsync(cancellationToken);
            if (status != HttpStatusCode.Accepted)
            {
                Console.Error.WriteLine($"The Receiver at {settings.Url} did not accept a sample event " +
                    $"({(status is { } s ? ((int)s).ToString(CultureInfo.InvariantCulture) : "no answer")}): {detail}");
                return 1;
            }

            if (settings.Mode is BenchMode.All or BenchMode.Closed)
            {
                runs.Add(await MeasureAsync("closed", $"{settings.Concurrency} senders", settings.Concurrency, null,
                    (window, recorder) => ClosedLoop.RunAsync(settings.Concurrency, window, recorder,
                        (_, token) => client.SendAsync(token), cancellationToken), cancellationToken));
            }

            if (settings.Mode is BenchMode.All or BenchMode.Open)
            {
                runs.Add(await MeasureAsync("open", string.Create(CultureInfo.InvariantCulture, $"{settings.Rate:0.##} events/s"),
                    null, settings.Rate,
                    (window, recorder) => OpenLoop.RunAsync(settings.Rate, settings.MaxInFlight, window, recorder,
                        client.SendAsync, cancellationToken), cancellationToken));
            }
        }

        var raw = runs.Find(r => r.Name == "raw");
        var closed = runs.Find(r => r.Name == "closed");
        double? ratio = raw is { AcceptedPerSecond: > 0 } && closed is not null
            ? Math.Round(closed.AcceptedPerSecond / raw.AcceptedPerSecond, 3)
            : null;
        var targets = CheckTargets(closed, ratio, runs.Find(r => r.Name == "open"), runs.Find(r => r.Name == "raw-open"));

        AnsiConsole.WriteLine();
        ResultTables.WriteSummary(runs, ratio, targets);

        var report = new BenchReport
        {
            StartedAt = startedAt,
            Mode = settings.Mode.ToString().ToLowerInvariant(),
            Machine = MachineInfo.Current,
            Settings = new ReportSettings(settings.Concurrency, settings.Rate, settings.Duration.TotalSeconds,
                settings.WarmUp.TotalSeconds, settings.Url.ToString(), $"{settings.Amqp.Host}:{settings.Amqp.Port}",
                settings.MaxInFlight),
            Runs = runs,
            ReceiverToRawRatio = ratio,
            Targets = targets,
        };
        var resultsDirectory = settings.ResultsDirectory
            ?? Path.Combine(new DirectoryInfo(samplesDirectory).Parent?.Parent?.FullName ?? ".", "bench", "results");
        Console.WriteLine($"Results written to {await report.WriteAsync(resultsDirectory, cancellationToken)}");
        return 0;
    }

    private async Task<List<RunResult>> RawAsync(SampleEvents samples, CancellationToken cancellationToken)
    {
        var runs = new List<RunResult>();
        await using var publisher = await RawPublisher.CreateAsync(settings.Amqp, settings.Concurrency, samples, cancellationToken);
        Console.WriteLine($"raw: publishing to quorum queue {publisher.Queue} (deleted afterwards)");
        if (settings.Mode is BenchMode.All or BenchMode.Raw)
        {
            runs.Add(await MeasureAsync("raw", $"{settings.Concurrency} publishers", settings.Concurrency, null,
                (window, recorder) => ClosedLoop.RunAsync(settings.Concurrency, window, recorder, publisher.PublishAsync,
                    cancellationToken), cancellationToken));
        }

        if (settings.Mode is BenchMode.All or BenchMode.RawOpen)
        {
            // The broker alone at the open loop's rate: the latency no Receiver in front of it can go under.
            runs.Add(await MeasureAsync("raw-open", string.Create(CultureInfo.InvariantCulture, $"{settings.Rate:0.##} publishes/s"),
                null, settings.Rate,
                (window, recorder) => OpenLoop.RunAsync(settings.Rate, settings.Concurrency, window, recorder,
                    publisher.PublishAsync, cancellationToken), cancellationToken));
        }

        return runs;
    }

    private async Task<RunResult> MeasureAsync(string name, string load, int? concurrency, double? rate,
        Func<RunWindow, RunRecorder, Task<LoopStats>> loop, CancellationToken cancellationToken)
    {
        var cpu = new CpuMeter(settings.WatchedProcesses);
        var window = RunWindow.StartingNow(settings.WarmUp, settings.Duration);
        var recorder = new RunRecorder(window.MeasureFrom);
        var cpuDuringMeasurement = MeasureCpuAsync(cpu, window, cancellationToken);
        var stats = await progress.RunAsync($"{name} - {load}", window, recorder, () => loop(window, recorder));

        var result = new RunResult
        {
            Name = name,
            Load = load,
            Concurrency = concurrency,
            OfferedRate = rate,
            MeasuredSeconds = Math.Round(stats.MeasuredSeconds, 3),
            Sent = recorder.MeasuredSent,
            Accepted = recorder.MeasuredAccepted,
            AcceptedPerSecond = Math.Round(recorder.MeasuredAccepted / stats.MeasuredSeconds, 1),
            Failures = recorder.Failures,
            Latency = recorder.Latency(),
            ScheduleLag = stats.ScheduleLag,
            InFlightCapWaits = stats.InFlightCapWaits,
            PeakInFlight = stats.PeakInFlight,
            CpuCores = await cpuDuringMeasurement,
        };
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{name}: {result.AcceptedPerSecond:N0} accepted/s over {result.MeasuredSeconds:F1}s; " +
            $"p50 {ResultTables.Millis(result.Latency.P50Micros)} ms, p99 {ResultTables.Millis(result.Latency.P99Micros)} ms, " +
            $"max {ResultTables.Millis(result.Latency.MaxMicros)} ms; not accepted {result.Failures.Values.Sum()}"));
        return result;
    }

    /// <summary>CPU over the measured window only, so warm-up JIT and connection set-up do not count.</summary>
    private static async Task<IReadOnlyDictionary<string, double>> MeasureCpuAsync(CpuMeter cpu, RunWindow window,
        CancellationToken cancellationToken)
    {
        await Task.Delay(Until(window.MeasureFrom), cancellationToken);
        cpu.Start();
        await Task.Delay(Until(window.End), cancellationToken);
        return cpu.Stop();

        static TimeSpan Until(long timestamp) =>
            TimeSpan.FromSeconds(Math.Max(0, RunWindow.Seconds(timestamp - Stopwatch.GetTimestamp())));
    }

    private List<TargetCheck> CheckTargets(RunResult? closed, double? ratio, RunResult? open, RunResult? rawOpen)
    {
        var checks = new List<TargetCheck>();
        var atTargetConcurrency = settings.Concurrency == TargetConcurrency;
        if (closed is not null)
        {
            checks.Add(new TargetCheck($"closed, {TargetConcurrency} senders: >= {TargetAcceptedPerSecond:N0} accepted/s",
                $"{closed.AcceptedPerSecond:N0}/s", atTargetConcurrency ? closed.AcceptedPerSecond >= TargetAcceptedPerSecond : null));
        }

        if (ratio is { } value)
        {
            checks.Add(new TargetCheck($"closed, {TargetConcurrency} senders: >= {TargetRatioToRaw:F2} x raw publishes/s",
                value.ToString("F2", CultureInfo.InvariantCulture), atTargetConcurrency ? value >= TargetRatioToRaw : null));
        }

        if (open is not null)
        {
            // Failed requests are not in the histogram; more than 1% of them would hide the real 99th percentile.
            var failed = open.Failures.Values.Sum();
            var fewFailures = failed * 100 < open.Sent;
            checks.Add(new TargetCheck($"open, {TargetOpenRate:N0} events/s offered: p99 < {TargetOpenP99Micros / 1000} ms",
                $"p99 {ResultTables.Millis(open.Latency.P99Micros)} ms, {failed} not accepted" +
                (rawOpen is null ? "" : $" (broker alone at {rawOpen.OfferedRate:N0}/s: p99 {ResultTables.Millis(rawOpen.Latency.P99Micros)} ms)"),
                open.OfferedRate == TargetOpenRate ? fewFailures && open.Latency.P99Micros < TargetOpenP99Micros : null));
        }

        return checks;
    }

    private void WriteHeader(SampleEvents samples)
    {
        var sizes = string.Join(", ", samples.Sizes.Select(s => $"{s.Name} {s.Bytes} B"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"LoadGen {settings.Mode.ToString().ToLowerInvariant()}: concurrency {settings.Concurrency}, rate {settings.Rate:0.##}/s, " +
            $"{settings.WarmUp.TotalSeconds:0.#}s warm-up + {settings.Duration.TotalSeconds:0.#}s per run, " +
            $"{Environment.ProcessorCount} cores; samples {sizes}"));
    }
}
