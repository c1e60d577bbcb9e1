using System.Globalization;
using System.Net;

namespace Aspire.Webhooks.EndToEndBench;

/// <summary>A subscriber the Relay was configured with, as the bench sees it: its sink path and its signing secret.</summary>
public sealed record SinkSubscriber(string Name, string Secret);

/// <summary>What to run against what. Secrets and subscribers come from the same environment the Relay and Receiver read.</summary>
public sealed record BenchSettings
{
    public const string Usage = """
        Aspire.Webhooks.EndToEndBench - myKaarma -> Receiver -> RabbitMQ -> Relay -> subscribers, measured at the subscriber

        usage: Aspire.Webhooks.EndToEndBench run --receiver URL --sink-port N [options]
               Aspire.Webhooks.EndToEndBench cleanup [--queue NAME]... [--exchange NAME]...

          run        starts the subscriber sinks, then: closed loop (overload), open loop (latency), sustained open loop
                     (delivered/s that the system keeps up with), outbox ceiling
          cleanup    deletes the given queues and exchanges (what bench/end-to-end.sh created)

        options:
              --receiver URL        the Receiver's endpoint, e.g. http://127.0.0.1:5180/webhooks/mykaarma
              --sink-port N         loopback port the subscriber sinks listen on (the Relay's subscriber URLs point here)
          -c, --concurrency N       closed loop: HTTP senders (default 32)
          -r, --rate R              open loop: offered events/s (default 500)
              --sustained-rate R    sustained open loop: offered events/s (default 1100; 0 skips the run)
          -d, --duration T          measured time per load run (default 20s)
          -w, --warmup T            unmeasured time before each load run (default 5s)
              --ceiling-duration T  measured time of the outbox ceiling (default 10s, after 2s warm-up)
              --consumer-concurrency N  outbox ceiling writers (default $Messaging__ConcurrentMessageLimit, else 32)
              --broker-ceiling FILE LoadGen's raw-mode result file (publish-with-confirms ceiling of the same run)
              --drain-timeout T     longest wait for the Relay to catch up after a load run (default 120s)
              --match-all NAME      the subscriber that matches every event (default: all)
              --results-dir DIR     where the JSON result goes (default: bench/results of this repository)
              --watch NAME=PID      report the CPU of that process (repeatable); postgres is summed over its processes
        Environment: ConnectionStrings__relaydb (the bench database), ConnectionStrings__messaging,
        MyKaarma__AuthorizationTokens__0, MyKaarma__SigningSecrets__0, Relay__Subscribers__N__Name and __Secret.
        """;

    public string Mode { get; init; } = "run";
    public Uri? Receiver { get; init; }
    public int SinkPort { get; init; }
    public int Concurrency { get; init; } = 32;
    public double Rate { get; init; } = 500;
    // A tenth above the 1,000/s target: offered exactly the target, a delivered rate counted within the window
    // falls just short of it whenever the last events of the window arrive a moment after it closes.
    public double SustainedRate { get; init; } = 1100;
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(20);
    public TimeSpan WarmUp { get; init; } = TimeSpan.FromSeconds(5);
    public TimeSpan CeilingDuration { get; init; } = TimeSpan.FromSeconds(10);
    public TimeSpan CeilingWarmUp { get; init; } = TimeSpan.FromSeconds(2);
    public int ConsumerConcurrency { get; init; } = 32;
    public string? BrokerCeilingFile { get; init; }
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(120);
    public string MatchAll { get; init; } = "all";
    public string? ResultsDirectory { get; init; }
    public IReadOnlyDictionary<string, int> Watched { get; init; } = new Dictionary<string, int>();
    public IReadOnlyList<string> Queues { get; init; } = [];
    public IReadOnlyList<string> Exchanges { get; init; } = [];

    public string? Database { get; init; }
    public Uri Amqp { get; init; } = new("amqp://guest:guest@127.0.0.1:5672/");
    public string? Token { get; init; }
    public string? Secret { get; init; }
    public IReadOnlyList<SinkSubscriber> Subscribers { get; init; } = [];

    public static BenchSettings Parse(IReadOnlyList<string> args, Func<string, string?> environment)
    {
        var settings = new BenchSettings
        {
            Database = Empty(environment("ConnectionStrings__relaydb")),
            Token = Empty(environment("MyKaarma__AuthorizationTokens__0")),
            Secret = Empty(environment("MyKaarma__SigningSecrets__0")),
            Subscribers = ReadSubscribers(environment),
        };
        if (Empty(environment("ConnectionStrings__messaging")) is { } amqp)
        {
            settings = settings with { Amqp = ParseUri(amqp, "ConnectionStrings__messaging") };
        }

        if (Empty(environment("Messaging__ConcurrentMessageLimit")) is { } limit)
        {
            settings = settings with { ConsumerConcurrency = PositiveInt(limit, "Messaging__ConcurrentMessageLimit") };
        }

        var watched = new Dictionary<string, int>(StringComparer.Ordinal);
        var queues = new List<string>();
        var exchanges = new List<string>();
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            string Value() => i + 1 < args.Count ? args[++i] : throw new FormatException($"{arg} needs a value.");
            settings = arg switch
            {
                "run" or "cleanup" when i == 0 => settings with { Mode = arg },
                "--receiver" => settings with { Receiver = ParseUri(Value(), arg) },
                "--sink-port" => settings with { SinkPort = PositiveInt(Value(), arg) },
                "-c" or "--concurrency" => settings with { Concurrency = PositiveInt(Value(), arg) },
                "-r" or "--rate" => settings with { Rate = PositiveDouble(Value(), arg) },
                "--sustained-rate" => settings with { SustainedRate = NonNegativeDouble(Value(), arg) },
                "-d" or "--duration" => settings with { Duration = ParseDuration(Value(), arg) },
                "-w" or "--warmup" => settings with { WarmUp = ParseDuration(Value(), arg) },
                "--ceiling-duration" => settings with { CeilingDuration = ParseDuration(Value(), arg) },
                "--consumer-concurrency" => settings with { ConsumerConcurrency = PositiveInt(Value(), arg) },
                "--broker-ceiling" => settings with { BrokerCeilingFile = Value() },
                "--drain-timeout" => settings with { DrainTimeout = ParseDuration(Value(), arg) },
                "--match-all" => settings with { MatchAll = Value() },
                "--results-dir" => settings with { ResultsDirectory = Value() },
                "--watch" => Add(settings, watched, Value()),
                "--queue" => AddTo(settings, queues, Value()),
                "--exchange" => AddTo(settings, exchanges, Value()),
                _ => throw new FormatException($"Unknown argument '{arg}'."),
            };
        }

        settings = settings with { Watched = watched, Queues = queues, Exchanges = exchanges };
        settings.Validate();
        return settings;
    }

    private void Validate()
    {
        RequireLoopback(Amqp, "ConnectionStrings__messaging");
        if (Mode != "run")
        {
            return;
        }

        if (Receiver is null || SinkPort == 0)
        {
            throw new FormatException("run needs --receiver URL and --sink-port N.");
        }

        RequireLoopback(Receiver, "--receiver");
        if (Token is null || Secret is null)
        {
            throw new FormatException("Set MyKaarma__AuthorizationTokens__0 and MyKaarma__SigningSecrets__0 as for the Receiver.");
        }

        if (Database is null)
        {
            throw new FormatException("Set ConnectionStrings__relaydb to the bench database (the Relay's).");
        }

        if (!Subscribers.Any(s => s.Name == MatchAll))
        {
            throw new FormatException($"No Relay__Subscribers__N__Name is '{MatchAll}' (the match-all subscriber).");
        }
    }

    // The Relay's own subscriber variables, so the sinks verify signatures with exactly the secrets the Relay signs with.
    private static List<SinkSubscriber> ReadSubscribers(Func<string, string?> environment)
    {
        var subscribers = new List<SinkSubscriber>();
        for (var i = 0; Empty(environment($"Relay__Subscribers__{i}__Name")) is { } name; i++)
        {
            var secret = Empty(environment($"Relay__Subscribers__{i}__Secret"))
                ?? throw new FormatException($"Relay__Subscribers__{i}__Secret is needed so the sink can verify signatures.");
            subscribers.Add(new SinkSubscriber(name, secret));
        }

        return subscribers;
    }

    // Load goes only to this machine: a typo must not become a load test of someone else's service.
    private static void RequireLoopback(Uri uri, string name)
    {
        var host = uri.IdnHost;
        if (!string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase) &&
            !(IPAddress.TryParse(host, out var address) && IPAddress.IsLoopback(address)))
        {
            throw new FormatException($"{name} must point at a loopback address, not '{host}'.");
        }
    }

    private static BenchSettings Add(BenchSettings settings, Dictionary<string, int> watched, string value)
    {
        var parts = value.Split('=', 2);
        if (parts.Length != 2 || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
        {
            throw new FormatException($"--watch expects NAME=PID, not '{value}'.");
        }

        watched[parts[0]] = pid;
        return settings;
    }

    private static BenchSettings AddTo(BenchSettings settings, List<string> list, string value)
    {
        list.Add(value);
        return settings;
    }

    private static int PositiveInt(string value, string name) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0
            ? n
            : throw new FormatException($"{name} must be a positive whole number, not '{value}'.");

    private static double PositiveDouble(string value, string name) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var n) && n > 0 && double.IsFinite(n)
            ? n
            : throw new FormatException($"{name} must be a positive number, not '{value}'.");

    private static double NonNegativeDouble(string value, string name) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var n) && n >= 0 && double.IsFinite(n)
            ? n
            : throw new FormatException($"{name} must be a number, zero or more, not '{value}'.");

    private static TimeSpan ParseDuration(string value, string name)
    {
        var (number, unit) = value switch
        {
            _ when value.EndsWith("ms", StringComparison.Ordinal) => (value[..^2], 0.001),
            _ when value.EndsWith('s') => (value[..^1], 1.0),
            _ when value.EndsWith('m') => (value[..^1], 60.0),
            _ => (value, 1.0),
        };
        return double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var amount) && amount >= 0 &&
            double.IsFinite(amount)
            ? TimeSpan.FromSeconds(amount * unit)
            : throw new FormatException($"{name} must be a duration such as 20, 20s, 1500ms or 1m, not '{value}'.");
    }

    private static Uri ParseUri(string value, string name) =>
        Uri.TryCreate(value, UriKind.Absolute, out var uri) ? uri : throw new FormatException($"{name} must be an absolute URI, not '{value}'.");

    private static string? Empty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;
}
