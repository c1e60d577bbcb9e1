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
        IReadOnlyList<double>? pairRatios = null;
        await using var publisher = settings.Mode is BenchMode.All or BenchMode.Raw or BenchMode.RawOpen
            ? await RawPublisher.CreateAsync(settings.Amqp, settings.Concurrency, samples, cancellationToken)
            : null;
        if (publisher is not null)
        {
            Console.WriteLine($"raw: publishing to quorum queue {publisher.Queue} (deleted afterwards)");
        }

        using var client = settings.NeedsReceiver
            ? new ReceiverClient(settings.Url, settings.Token!, samples, Math.Max(settings.Concurrency, settings.MaxInFlight))
            : null;
        if (client is not null)
        {
            var (status, detail) = await client.ProbeAsync(cancellationToken);
            if (status != HttpStatusCode.Accepted)
            {
                Console.Error.WriteLine($"The Receiver at {settings.Url} did not accept a sample event " +
                    $"({(status is { } s ? ((int)s).ToString(CultureInfo.InvariantCulture) : "no answer")}): {detail}");
                return 1;
            }

            await WarmUpReceiverAsync(client, cancellationToken);
        }

        if (settings.Mode == BenchMode.All)
        {
            await EmptyQueuesAsync(publisher, cancellationToken);
            var (pairedRaw, pairedClosed, ratios) = await PairedAsync(publisher!, client!, cancellationToken);
            pairRatios = ratios;
            runs.Add(pairedRaw);
            await EmptyQueuesAsync(publisher, cancellationToken);
            runs.Add(await RawOpenAsync(publisher!, cancellationToken));
            runs.Add(pairedClosed);
            await EmptyQueuesAsync(publisher, cancellationToken);
            runs.Add(await OpenAsync(client!, cancellationToken));
        }
        else
        {
            if (settings.Mode == BenchMode.Raw)
            {
                runs.Add((await MeasureAsync("raw", RawLoad, settings.Concurrency, null, settings.WarmUp, settings.Duration,
                    RawPublishes(publisher!, cancellationToken), cancellationToken)).Result);
            }

            if (settings.Mode == BenchMode.RawOpen)
            {
                runs.Add(await RawOpenAsync(publisher!, cancellationToken));
            }

            if (settings.NeedsReceiver)
            {
                await EmptyQueuesAsync(publisher, cancellationToken);
            }

            if (settings.Mode == BenchMode.Closed)
            {
                runs.Add((await MeasureAsync("closed", ClosedLoad, settings.Concurrency, null, settings.WarmUp, settings.Duration,
                    ReceiverPosts(client!, cancellationToken), cancellationToken)).Result);
            }

            if (settings.Mode == BenchMode.Open)
            {
                runs.Add(await OpenAsync(client!, cancellationToken));
            }
        }

        var raw = runs.Find(r => r.Name == "raw");
        var closed = runs.Find(r => r.Name == "closed");
        double? ratio = raw is { AcceptedPerSecond: > 0 } && closed is not null ? Ratio(closed, raw) : null;
        var targets = CheckTargets(closed, ratio, runs.Find(r => r.Name == "open"), runs.Find(r => r.Name == "raw-open"));

        AnsiConsole.WriteLine();
        ResultTables.WriteSummary(runs, ratio, pairRatios, targets);

        var report = new BenchReport
        {
            StartedAt = startedAt,
            Mode = settings.Mode.ToString().ToLowerInvariant(),
            Machine = MachineInfo.Current,
            Settings = new ReportSettings(settings.Concurrency, settings.Rate, settings.Duration.TotalSeconds,
                settings.WarmUp.TotalSeconds, settings.Url.ToString(), $"{settings.Amqp.Host}:{settings.Amqp.Port}",
                settings.MaxInFlight, settings.Pairs, settings.ReceiverWarmUp.TotalSeconds),
            Runs = runs,
            ReceiverToRawRatio = ratio,
            PairRatios = pairRatios,
            Targets = targets,
        };
        var resultsDirectory = settings.ResultsDirectory
            ?? Path.Combine(new DirectoryInfo(samplesDirectory).Parent?.Parent?.FullName ?? ".", "bench", "results");
        Console.WriteLine($"Results written to {await report.WriteAsync(resultsDirectory, cancellationToken)}");
        return 0;
    }

    private string RawLoad => $"{settings.Concurrency} publishers";

    private string ClosedLoad => $"{settings.Concurrency} senders";

    private Func<RunWindow, RunRecorder, Task<LoopStats>> RawPublishes(RawPublisher publisher, CancellationToken cancellationToken) =>
        (window, recorder) => ClosedLoop.RunAsync(settings.Concurrency, window, recorder, publisher.PublishAsync,
            cancellationToken);

    private Func<RunWindow, RunRecorder, Task<LoopStats>> ReceiverPosts(ReceiverClient client, CancellationToken cancellationToken) =>
        (window, recorder) => ClosedLoop.RunAsync(settings.Concurrency, window, recorder,
            (_, token) => client.SendAsync(token), cancellationToken);

    /// <summary>
    /// Raw and closed in alternating slices, so the two rates whose ratio is the target are measured over the same
    /// stretch of time. On a shared host the broker's own rate drifts by a third within an hour, and the closed rate
    /// measured a minute after the raw one need not meet the same machine.
    /// </summary>
    private async Task<(RunResult Raw, RunResult Closed, IReadOnlyList<double> Ratios)> PairedAsync(
        RawPublisher publisher, ReceiverClient client, CancellationToken cancellationToken)
    {
        var slice = settings.Duration / settings.Pairs;
        var raw = new List<MeasuredRun>();
        var closed = new List<MeasuredRun>();
        for (var i = 0; i < settings.Pairs; i++)
        {
            // The first slice of each kind warms up (JIT, connections, the broker's queues); later ones only let the
            // other kind's last answers drain and the machine settle.
            var warmUp = i == 0 ? settings.WarmUp : SliceSettle;
            var label = settings.Pairs == 1 ? "" : $" {i + 1}/{settings.Pairs}";
            raw.Add(await MeasureAsync("raw" + label, RawLoad, settings.Concurrency, null, warmUp, slice,
                RawPublishes(publisher, cancellationToken), cancellationToken));
            closed.Add(await MeasureAsync("closed" + label, ClosedLoad, settings.Concurrency, null, warmUp, slice,
                ReceiverPosts(client, cancellationToken), cancellationToken));
        }

        var ratios = raw.Zip(closed, (r, c) => r.Result.AcceptedPerSecond > 0 ? Ratio(c.Result, r.Result) : 0).ToList();
        return (Combine("raw", raw), Combine("closed", closed), ratios);
    }

    /// <summary>
    /// Closed-loop posts, counted nowhere, until the runtime has finished tiering the Receiver: its profile-guided
    /// recompilation takes about 20 s under load, and a Receiver in service has long been past it.
    /// </summary>
    private async Task WarmUpReceiverAsync(ReceiverClient client, CancellationToken cancellationToken)
    {
        if (settings.ReceiverWarmUp <= TimeSpan.Zero)
        {
            return;
        }

        var window = RunWindow.StartingNow(settings.ReceiverWarmUp, TimeSpan.Zero);
        var recorder = new RunRecorder(window.MeasureFrom);
        await progress.RunAsync($"receiver warm-up - {ClosedLoad}", window, recorder,
            () => ReceiverPosts(client, cancellationToken)(window, recorder));
        var done = recorder.Snapshot();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"receiver warm-up: {done.Accepted:N0} accepted, {done.Failed:N0} not, in {settings.ReceiverWarmUp.TotalSeconds:0.#}s (not measured)"));
    }

    /// <summary>
    /// Empties raw's queue and, when named, the Receiver's, then waits for the machine to go quiet. Nothing consumes
    /// them during a bench, so without this each phase would meet a queue of every event sent so far, and the
    /// broker's work of moving them from its write-ahead log into segment files (stalls of 100 ms and more) would
    /// land in whichever run happened to be measuring; with a Relay consuming, the queue stays short. Emptying a
    /// large queue is itself work the broker finishes in the background, hence the wait.
    /// </summary>
    private async Task EmptyQueuesAsync(RawPublisher? publisher, CancellationToken cancellationToken)
    {
        var queues = new[] { publisher?.Queue, settings.Queue }.OfType<string>().ToList();
        if (queues.Count == 0)
        {
            return;
        }

        var purged = await BrokerTopology.PurgeAsync(settings.Amqp, queues, cancellationToken);
        var (seconds, busy) = await WaitForQuietMachineAsync(cancellationToken);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"emptied {string.Join(" and ", queues)}: {purged:N0} messages; machine quiet ({busy:0.00} cores busy) after {seconds:0}s (not measured)"));
    }

    // Above this, something (the broker finishing a purge, a stray build) is still using the cores a run needs.
    private const double QuietCores = 0.25;
    private static readonly TimeSpan QuietLimit = TimeSpan.FromSeconds(60);

    /// <summary>Waits, up to a minute, for a second in which the machine's cores were nearly idle.</summary>
    private static async Task<(double Seconds, double Busy)> WaitForQuietMachineAsync(CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        double busy;
        do
        {
            var meter = new CpuMeter(new Dictionary<string, int>());
            meter.Start();
            await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
            // No /proc, no figure: nothing to wait for.
            busy = meter.Stop().GetValueOrDefault(CpuMeter.MachineName);
        }
        while (busy > QuietCores && Stopwatch.GetElapsedTime(started) < QuietLimit);

        return (Stopwatch.GetElapsedTime(started).TotalSeconds, busy);
    }

    private static readonly TimeSpan SliceSettle = TimeSpan.FromSeconds(1);

    private static double Ratio(RunResult closed, RunResult raw) =>
        Math.Round(closed.AcceptedPerSecond / raw.AcceptedPerSecond, 3);

    private async Task<RunResult> RawOpenAsync(RawPublisher publisher, CancellationToken cancellationToken) =>
        // The broker alone at the open loop's rate: the latency no Receiver in front of it can go under.
        (await MeasureAsync("raw-open", string.Create(CultureInfo.InvariantCulture, $"{settings.Rate:0.##} publishes/s"),
            null, settings.Rate, settings.WarmUp, settings.Duration,
            (window, recorder) => OpenLoop.RunAsync(settings.Rate, settings.Concurrency, window, recorder,
                publisher.PublishAsync, cancellationToken), cancellationToken)).Result;

    private async Task<RunResult> OpenAsync(ReceiverClient client, CancellationToken cancellationToken) =>
        (await MeasureAsync("open", string.Create(CultureInfo.InvariantCulture, $"{settings.Rate:0.##} events/s"),
            null, settings.Rate, settings.WarmUp, settings.Duration,
            (window, recorder) => OpenLoop.RunAsync(settings.Rate, settings.MaxInFlight, window, recorder,
                client.SendAsync, cancellationToken), cancellationToken)).Result;

    /// <summary>One run's result with its latency histogram, so slices of one kind can be added up.</summary>
    private sealed record MeasuredRun(RunResult Result, HdrHistogram.HistogramBase Latency);

    private async Task<MeasuredRun> MeasureAsync(string name, string load, int? concurrency, double? rate,
        TimeSpan warmUp, TimeSpan duration, Func<RunWindow, RunRecorder, Task<LoopStats>> loop, CancellationToken cancellationToken)
    {
        var cpu = new CpuMeter(settings.WatchedProcesses);
        var window = RunWindow.StartingNow(warmUp, duration);
        var recorder = new RunRecorder(window.MeasureFrom);
        var cpuDuringMeasurement = MeasureCpuAsync(cpu, window, cancellationToken);
        var stats = await progress.RunAsync($"{name} - {load}", window, recorder, () => loop(window, recorder));
        var latency = recorder.LatencyHistogram();

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
            Latency = LatencySummary.From(latency),
            ScheduleLag = stats.ScheduleLag,
            InFlightCapWaits = stats.InFlightCapWaits,
            PeakInFlight = stats.PeakInFlight,
            CpuCores = await cpuDuringMeasurement,
        };
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{name}: {result.AcceptedPerSecond:N0} accepted/s over {result.MeasuredSeconds:F1}s; " +
            $"p50 {ResultTables.Millis(result.Latency.P50Micros)} ms, p99 {ResultTables.Millis(result.Latency.P99Micros)} ms, " +
            $"max {ResultTables.Millis(result.Latency.MaxMicros)} ms; not accepted {result.Failures.Values.Sum()}"));
        return new MeasuredRun(result, latency);
    }

    /// <summary>Slices of one kind as one run: their counts and seconds added, their latencies in one histogram.</summary>
    private static RunResult Combine(string name, IReadOnlyList<MeasuredRun> slices)
    {
        var seconds = slices.Sum(s => s.Result.MeasuredSeconds);
        var accepted = slices.Sum(s => s.Result.Accepted);
        var latency = slices[0].Latency.Copy();
        foreach (var slice in slices.Skip(1))
        {
            latency.Add(slice.Latency);
        }

        return slices[0].Result with
        {
            Name = name,
            MeasuredSeconds = Math.Round(seconds, 3),
            Sent = slices.Sum(s => s.Result.Sent),
            Accepted = accepted,
            AcceptedPerSecond = Math.Round(accepted / seconds, 1),
            Failures = slices.SelectMany(s => s.Result.Failures)
                .GroupBy(f => f.Key, StringComparer.Ordinal)
                .ToDictionary(g => g.Key, g => g.Sum(f => f.Value), StringComparer.Ordinal),
            Latency = LatencySummary.From(latency),
            // Cores busy on average over all the measured seconds, each slice weighing by its length.
            CpuCores = slices.SelectMany(s => s.Result.CpuCores.Select(c => (c.Key, Weighted: c.Value * s.Result.MeasuredSeconds)))
                .GroupBy(c => c.Key, StringComparer.Ordinal)
                .ToDictionary(g => g.Key, g => Math.Round(g.Sum(c => c.Weighted) / seconds, 2), StringComparer.Ordinal),
        };
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
                value.ToString("F3", CultureInfo.InvariantCulture), atTargetConcurrency ? value >= TargetRatioToRaw : null));
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
