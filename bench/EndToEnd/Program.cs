using System.Runtime.InteropServices;
using Aspire.Webhooks.EndToEndBench.Ceilings;
using Spectre.Console;

namespace Aspire.Webhooks.EndToEndBench;

// A named entry point: the referenced Relay already has a global Program class.
internal static class EntryPoint
{
    public static async Task<int> Main(string[] args)
    {
        if (args is [] or ["-h"] or ["--help"] or ["help"])
        {
            Console.WriteLine(BenchSettings.Usage);
            return args is [] ? 2 : 0;
        }

        BenchSettings settings;
        try
        {
            settings = BenchSettings.Parse(args, Environment.GetEnvironmentVariable);
        }
        catch (FormatException ex)
        {
            Console.Error.WriteLine(ex.Message);
            return 2;
        }

        if (Console.IsOutputRedirected)
        {
            AnsiConsole.Profile.Width = 200;
        }

        using var stop = new CancellationTokenSource();
        using var onInterrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
        using var onTerminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        try
        {
            if (settings.Mode == "cleanup")
            {
                await BrokerCeiling.CleanupAsync(settings.Amqp, settings.Queues, settings.Exchanges, stop.Token);
                return 0;
            }

            return await new BenchRunner(settings).RunAsync(stop.Token);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            Console.Error.WriteLine("Stopped before the end; no results written.");
            return 130;
        }

        void Stop(PosixSignalContext context)
        {
            context.Cancel = true;
            stop.Cancel();
        }
    }
}
