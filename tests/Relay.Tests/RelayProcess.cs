using System.Diagnostics;
using System.Text.RegularExpressions;
using Aspire.Webhooks.TestSupport;

namespace Aspire.Webhooks.Relay.Tests;

/// <summary>
/// The built Relay run as a child process (<c>dotnet Aspire.Webhooks.Relay.dll</c>), configured through environment
/// variables, so a test can kill it with SIGKILL the way a crash or an OOM kill would: no shutdown code runs.
/// </summary>
public sealed partial class RelayProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly TaskCompletionSource<Uri> _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Queue<string> _output = new();

    private RelayProcess(Process process) => _process = process;

    public int Id => _process.Id;

    public Uri BaseAddress { get; private set; } = null!;

    /// <summary>Starts the Relay and waits until /health answers 200 (database migrated, queue bound).</summary>
    public static async Task<RelayProcess> StartAsync(IEnumerable<KeyValuePair<string, string?>> settings)
    {
        var assembly = LocateAssembly();
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = Path.GetDirectoryName(assembly)!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(assembly);
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Testing";
        start.Environment["ASPNETCORE_URLS"] = "http://127.0.0.1:0";
        start.Environment["Logging__LogLevel__Default"] = "Warning";
        start.Environment["Logging__LogLevel__Microsoft.Hosting.Lifetime"] = "Information";
        start.Environment.Remove("OTEL_EXPORTER_OTLP_ENDPOINT");
        // The sinks are plain http on loopback.
        start.Environment["Relay__AllowPrivateNetworkTargets"] = "true";
        start.Environment["Relay__RequireHttps"] = "false";
        foreach (var (key, value) in settings)
        {
            start.Environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
        }

        var relay = new RelayProcess(new Process { StartInfo = start, EnableRaisingEvents = true });
        relay._process.OutputDataReceived += (_, e) => relay.OnOutput(e.Data);
        relay._process.ErrorDataReceived += (_, e) => relay.OnOutput(e.Data);
        relay._process.Exited += (_, _) =>
            relay._listening.TrySetException(new InvalidOperationException($"The Relay exited at start:\n{relay.Output}"));
        relay._process.Start();
        relay._process.BeginOutputReadLine();
        relay._process.BeginErrorReadLine();

        try
        {
            relay.BaseAddress = await relay._listening.Task.WaitAsync(TimeSpan.FromSeconds(30));
            using var client = new HttpClient { BaseAddress = relay.BaseAddress };
            await Eventually.ReturnsAsync(async () =>
            {
                using var response = await client.GetAsync("/health");
                return response.StatusCode;
            }, status => status == System.Net.HttpStatusCode.OK, because: $"the Relay process becomes healthy\n{relay.Output}");
            return relay;
        }
        catch
        {
            await relay.DisposeAsync();
            throw;
        }
    }

    /// <summary>The process's last lines of output, for failure messages.</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return string.Join('\n', _output);
            }
        }
    }

    /// <summary>SIGKILL: the process ends at once, holding whatever it had claimed.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        await _process.WaitForExitAsync();
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await KillAsync();
        }
        catch (InvalidOperationException)
        {
            // Never started.
        }

        _process.Dispose();
    }

    /// <summary>
    /// The Relay's build output. A referenced Exe project is copied into the test's output with its runtimeconfig
    /// and deps, so it runs from there; otherwise it is found in Relay/bin/{configuration}/{framework}.
    /// </summary>
    private static string LocateAssembly()
    {
        const string name = "Aspire.Webhooks.Relay";
        var here = AppContext.BaseDirectory;
        if (File.Exists(Path.Combine(here, name + ".runtimeconfig.json")))
        {
            return Path.Combine(here, name + ".dll");
        }

        // .../tests/Relay.Tests/bin/{configuration}/{framework}/ -> .../Relay/bin/{configuration}/{framework}/
        var framework = new DirectoryInfo(here.TrimEnd(Path.DirectorySeparatorChar));
        var configuration = framework.Parent!;
        var repository = configuration.Parent!.Parent!.Parent!.Parent!;
        var built = Path.Combine(repository.FullName, "Relay", "bin", configuration.Name, framework.Name, name + ".dll");
        return File.Exists(built)
            ? built
            : throw new FileNotFoundException($"The built Relay is neither in {here} nor at {built}; build the solution first.");
    }

    private void OnOutput(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.Enqueue(line);
            if (_output.Count > 200)
            {
                _output.Dequeue();
            }
        }

        if (ListeningOn().Match(line) is { Success: true } match)
        {
            _listening.TrySetResult(new Uri(match.Groups[1].Value));
        }
    }

    [GeneratedRegex(@"Now listening on: (http://\S+)")]
    private static partial Regex ListeningOn();
}
