using System.Globalization;
using System.Net;

namespace Aspire.Webhooks.LoadGen;

public enum BenchMode
{
    All,
    Raw,
    RawOpen,
    Closed,
    Open,
    Cleanup,
}

/// <summary>What to run and against what, from the command line and the environment the Receiver also reads.</summary>
public sealed record BenchSettings
{
    public const string Usage = """
        Aspire.Webhooks.LoadGen - load generator for the Receiver (POST /webhooks/mykaarma)

        usage: Aspire.Webhooks.LoadGen [all|raw|raw-open|closed|open|cleanup] [options]

          all       raw and closed at --concurrency in alternating slices, raw-open, open at --rate, then a summary (default)
          raw       publish with confirms straight to a fresh quorum queue: the ceiling the Receiver cannot beat
          raw-open  the same publishes at --rate on a fixed schedule: the broker's own latency, the floor for open
          closed    --concurrency senders, each posting again as soon as its previous answer arrived
          open      posts at --rate events/s on a fixed schedule; latency counts from each intended send time
          cleanup   delete --queue, the exchange of that name and the message-type exchanges prefixed "QUEUE."

        options:
          -c, --concurrency N     senders / publishers in closed and raw (default 32)
          -r, --rate R            offered events/s in open (default 1000)
          -d, --duration T        measured time per run: 20, 20s, 1500ms, 1m (default 20s)
          -w, --warmup T          unmeasured time before each run (default 5s)
          -W, --receiver-warmup T closed/open/all: posts at --concurrency, unmeasured, before the Receiver's first run,
                                  until the runtime's tiered PGO has recompiled its hot paths, as in a Receiver that
                                  has been up a while (default 30s; 0 to measure a cold Receiver)
          -p, --pairs N           all: measure raw and closed as N alternating slices of --duration/N each, so both
                                  meet the same machine and their ratio is not skewed by drift between them; slices
                                  after the first settle for 1s instead of warming up (default 4; 1 = one run each)
              --url URL           the Receiver's endpoint (default http://127.0.0.1:5080/webhooks/mykaarma)
              --amqp URI          RabbitMQ (default $ConnectionStrings__messaging, else amqp://guest:guest@127.0.0.1:5672/)
              --token T           x-authorization-token (default $MyKaarma__AuthorizationTokens__0)
              --secret S          signing secret (default $MyKaarma__SigningSecrets__0)
              --samples DIR       myKaarma sample events (default: samples/mykaarma of this repository)
              --results-dir DIR   where the JSON results go (default: bench/results of this repository)
              --max-in-flight N   open: requests outstanding at once before the schedule waits (default 4096)
              --queue NAME        cleanup: the queue to delete; other modes: the Receiver's queue, emptied (with raw's
                                  own) before each phase, as a running Relay would keep it
              --watch-pid NAME=PID  also report the CPU used by that process during each run (repeatable)
              --plain             periodic plain lines instead of the live display
        Targets must be loopback addresses: this tool loads whatever it points at.
        """;

    public BenchMode Mode { get; init; } = BenchMode.All;
    public int Concurrency { get; init; } = 32;
    public double Rate { get; init; } = 1000;
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(20);
    // Long enough for tiered JIT to reach its optimised code while two cores are saturated; with 3 s the first
    // measured seconds still paid for recompiling the hot path.
    public TimeSpan WarmUp { get; init; } = TimeSpan.FromSeconds(5);
    // Tiered PGO needs about 20 s under load on two cores to instrument, profile and recompile the Receiver's hot
    // paths; measured before that, the Receiver looked a third more expensive per event than it is when up for days.
    public TimeSpan ReceiverWarmUp { get; init; } = TimeSpan.FromSeconds(30);
    public Uri Url { get; init; } = new("http://127.0.0.1:5080/webhooks/mykaarma");
    public Uri Amqp { get; init; } = new("amqp://guest:guest@127.0.0.1:5672/");
    public string? Token { get; init; }
    public string? Secret { get; init; }
    public string? SamplesDirectory { get; init; }
    public string? ResultsDirectory { get; init; }
    public int MaxInFlight { get; init; } = 4096;
    public int Pairs { get; init; } = 4;
    public string? Queue { get; init; }
    public IReadOnlyDictionary<string, int> WatchedProcesses { get; init; } = new Dictionary<string, int>();
    public bool Plain { get; init; }

    public bool NeedsReceiver => Mode is BenchMode.All or BenchMode.Closed or BenchMode.Open;

    /// <summary>Reads the arguments; throws <see cref="FormatException"/> with a message meant for the user.</summary>
    public static BenchSettings Parse(IReadOnlyList<string> args, Func<string, string?> environment)
    {
        var settings = new BenchSettings
        {
            Token = NullIfEmpty(environment("MyKaarma__AuthorizationTokens__0")),
            Secret = NullIfEmpty(environment("MyKaarma__SigningSecrets__0")),
        };
        if (NullIfEmpty(environment("ConnectionStrings__messaging")) is { } messaging)
        {
            settings = settings with { Amqp = ParseUri(messaging, "ConnectionStrings__messaging") };
        }

        var watched = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            string Value() => i + 1 < args.Count ? args[++i] : throw new FormatException($"{arg} needs a value.");

            settings = arg switch
            {
                _ when i == 0 && !arg.StartsWith('-') => settings with { Mode = ParseMode(arg) },
                "--mode" => settings with { Mode = ParseMode(Value()) },
                "-c" or "--concurrency" => settings with { Concurrency = ParsePositiveInt(Value(), arg) },
                "-r" or "--rate" => settings with { Rate = ParsePositiveDouble(Value(), arg) },
                "-d" or "--duration" => settings with { Duration = ParseDuration(Value(), arg) },
                "-w" or "--warmup" => settings with { WarmUp = ParseDuration(Value(), arg, allowZero: true) },
                "-W" or "--receiver-warmup" => settings with { ReceiverWarmUp = ParseDuration(Value(), arg, allowZero: true) },
                "--url" => settings with { Url = ParseUri(Value(), arg) },
                "--amqp" => settings with { Amqp = ParseUri(Value(), arg) },
                "--token" => settings with { Token = Value() },
                "--secret" => settings with { Secret = Value() },
                "--samples" => settings with { SamplesDirectory = Value() },
                "--results-dir" => settings with { ResultsDirectory = Value() },
                "--max-in-flight" => settings with { MaxInFlight = ParsePositiveInt(Value(), arg) },
                "-p" or "--pairs" => settings with { Pairs = ParsePositiveInt(Value(), arg) },
                "--queue" => settings with { Queue = Value() },
                "--plain" => settings with { Plain = true },
                "--watch-pid" => AddWatched(settings, watched, Value()),
                _ => throw new FormatException($"Unknown argument '{arg}'."),
            };
        }

        settings = settings with { WatchedProcesses = watched };
        settings.Validate();
        return settings;
    }

    private void Validate()
    {
        RequireLoopback(Url, "--url");
        RequireLoopback(Amqp, "--amqp / ConnectionStrings__messaging");
        if (NeedsReceiver && (Token is null || Secret is null))
        {
            throw new FormatException("The Receiver's token and signing secret are needed: pass --token and --secret, " +
                "or set MyKaarma__AuthorizationTokens__0 and MyKaarma__SigningSecrets__0 as for the Receiver.");
        }

        if (Mode == BenchMode.Cleanup && string.IsNullOrWhiteSpace(Queue))
        {
            throw new FormatException("cleanup needs --queue NAME.");
        }
    }

    // Benchmark traffic may only go to this machine: a typo in --url must not become a load test of someone else.
    private static void RequireLoopback(Uri uri, string name)
    {
        var host = uri.IdnHost;
        var loopback = string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase) ||
            (IPAddress.TryParse(host, out var address) && IPAddress.IsLoopback(address));
        if (!loopback)
        {
            throw new FormatException($"{name} must point at a loopback address (127.0.0.1, ::1, localhost), not '{host}'.");
        }
    }

    private static BenchSettings AddWatched(BenchSettings settings, Dictionary<string, int> watched, string value)
    {
        var parts = value.Split('=', 2);
        if (parts.Length != 2 || parts[0].Length == 0 ||
            !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
        {
            throw new FormatException($"--watch-pid expects NAME=PID, not '{value}'.");
        }

        watched[parts[0]] = pid;
        return settings;
    }

    private static BenchMode ParseMode(string value) =>
        Enum.TryParse<BenchMode>(value.Replace("-", "", StringComparison.Ordinal), ignoreCase: true, out var mode) &&
        !int.TryParse(value, out _)
            ? mode
            : throw new FormatException($"Unknown mode '{value}': use all, raw, raw-open, closed, open or cleanup.");

    private static int ParsePositiveInt(string value, string name) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0
            ? n
            : throw new FormatException($"{name} must be a positive whole number, not '{value}'.");

    private static double ParsePositiveDouble(string value, string name) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var n) && n > 0 && double.IsFinite(n)
            ? n
            : throw new FormatException($"{name} must be a positive number, not '{value}'.");

    private static TimeSpan ParseDuration(string value, string name, bool allowZero = false)
    {
        var (number, unit) = value switch
        {
            _ when value.EndsWith("ms", StringComparison.Ordinal) => (value[..^2], 0.001),
            _ when value.EndsWith('s') => (value[..^1], 1.0),
            _ when value.EndsWith('m') => (value[..^1], 60.0),
            _ => (value, 1.0),
        };
        if (!double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var amount) ||
            !double.IsFinite(amount) || amount < 0 || (amount == 0 && !allowZero))
        {
            throw new FormatException($"{name} must be a duration such as 20, 20s, 1500ms or 1m, not '{value}'.");
        }

        return TimeSpan.FromSeconds(amount * unit);
    }

    private static Uri ParseUri(string value, string name) =>
        Uri.TryCreate(value, UriKind.Absolute, out var uri)
            ? uri
            : throw new FormatException($"{name} must be an absolute URI, not '{value}'.");

    private static string? NullIfEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;
}
