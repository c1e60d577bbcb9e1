using System.Runtime.InteropServices;
using Aspire.Webhooks.LoadGen;
using Aspire.Webhooks.LoadGen.Reporting;
using RabbitMQ.Client.Exceptions;
using Spectre.Console;

if (args is ["-h"] or ["--help"] or ["help"])
{
    Console.WriteLine(BenchSettings.Usage);
    return 0;
}

BenchSettings settings;
try
{
    settings = BenchSettings.Parse(args, Environment.GetEnvironmentVariable);
}
catch (FormatException ex)
{
    Console.Error.WriteLine(ex.Message);
    Console.Error.WriteLine();
    Console.Error.WriteLine(BenchSettings.Usage);
    return 2;
}

// Redirected output has no width; Spectre would assume 80 columns and wrap the results table beyond reading.
if (Console.IsOutputRedirected)
{
    AnsiConsole.Profile.Width = 160;
}

// Ctrl+C or SIGTERM stops the loops early but still lets the raw queue be deleted on the way out.
using var stop = new CancellationTokenSource();
using var onInterrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, StopGracefully);
using var onTerminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, StopGracefully);

try
{
    return await new BenchRunner(settings, LiveProgress.ForConsole(settings.Plain), TimeProvider.System)
        .RunAsync(stop.Token);
}
catch (OperationCanceledException) when (stop.IsCancellationRequested)
{
    Console.Error.WriteLine("Stopped before the end; no results written.");
    return 130;
}
catch (FormatException ex)
{
    Console.Error.WriteLine(ex.Message);
    return 2;
}
catch (BrokerUnreachableException ex)
{
    Console.Error.WriteLine($"RabbitMQ at {settings.Amqp.Host}:{settings.Amqp.Port} is not reachable: {ex.InnerException?.Message ?? ex.Message}");
    return 1;
}

void StopGracefully(PosixSignalContext context)
{
    context.Cancel = true;
    stop.Cancel();
}
