using System.Diagnostics;
using System.Globalization;
using Aspire.Webhooks.LoadGen.Load;
using Aspire.Webhooks.LoadGen.Measurement;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Aspire.Webhooks.LoadGen.Reporting;

/// <summary>
/// Shows a run while it happens: a live panel on a terminal, or a plain line every few seconds when the output
/// goes to a file or a CI log, where redrawing escape sequences would only be noise.
/// </summary>
public sealed class LiveProgress(bool interactive)
{
    private static readonly TimeSpan RedrawEvery = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan PrintEvery = TimeSpan.FromSeconds(2);

    public static LiveProgress ForConsole(bool forcePlain) =>
        new(!forcePlain && !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive);

    public async Task<T> RunAsync<T>(string title, RunWindow window, RunRecorder recorder, Func<Task<T>> run)
    {
        var rate = new RateTracker(recorder.Snapshot(), Stopwatch.GetTimestamp());
        if (!interactive)
        {
            var task = run();
            while (await Task.WhenAny(task, Task.Delay(PrintEvery)) != task)
            {
                Console.WriteLine(Line(title, window, recorder.Snapshot(), rate));
            }

            return await task;
        }

        return await AnsiConsole.Live(Panel(title, window, recorder.Snapshot(), rate))
            .AutoClear(false)
            .StartAsync(async live =>
            {
                var task = run();
                while (await Task.WhenAny(task, Task.Delay(RedrawEvery)) != task)
                {
                    live.UpdateTarget(Panel(title, window, recorder.Snapshot(), rate));
                }

                live.UpdateTarget(Panel(title, window, recorder.Snapshot(), rate));
                return await task;
            });
    }

    private static string Line(string title, RunWindow window, ProgressSnapshot now, RateTracker rate) =>
        string.Create(CultureInfo.InvariantCulture,
            $"[{title}] {Elapsed(window)} {window.Phase(Stopwatch.GetTimestamp()),-9} {rate.Update(now),8:F0}/s  " +
            $"sent {now.Started,8}  accepted {now.Accepted,8}  errors {now.Failed,6}  in flight {now.InFlight,5}");

    private static IRenderable Panel(string title, RunWindow window, ProgressSnapshot now, RateTracker rate)
    {
        var grid = new Grid().AddColumn().AddColumn(new GridColumn().RightAligned());
        grid.AddRow("phase", $"{window.Phase(Stopwatch.GetTimestamp())}  {Elapsed(window)}");
        grid.AddRow("accepted/s now", rate.Update(now).ToString("N0", CultureInfo.InvariantCulture));
        grid.AddRow("sent", now.Started.ToString("N0", CultureInfo.InvariantCulture));
        grid.AddRow("accepted", now.Accepted.ToString("N0", CultureInfo.InvariantCulture));
        grid.AddRow(now.Failed > 0 ? "[red]errors[/]" : "errors", now.Failed.ToString("N0", CultureInfo.InvariantCulture));
        grid.AddRow("in flight", now.InFlight.ToString("N0", CultureInfo.InvariantCulture));
        return new Panel(grid).Header(Markup.Escape(title)).Border(BoxBorder.Rounded);
    }

    private static string Elapsed(RunWindow window) =>
        string.Create(CultureInfo.InvariantCulture,
            $"{RunWindow.Seconds(Stopwatch.GetTimestamp() - window.Start),5:F1}/{window.TotalSeconds:F0}s");

    /// <summary>Accepted per second since the previous redraw, so a dip shows at once rather than averaged away.</summary>
    private sealed class RateTracker(ProgressSnapshot last, long lastTimestamp)
    {
        private double _rate;

        public double Update(ProgressSnapshot now)
        {
            var timestamp = Stopwatch.GetTimestamp();
            var seconds = RunWindow.Seconds(timestamp - lastTimestamp);
            if (seconds >= 0.2)
            {
                _rate = (now.Accepted - last.Accepted) / seconds;
                (last, lastTimestamp) = (now, timestamp);
            }

            return _rate;
        }
    }
}
