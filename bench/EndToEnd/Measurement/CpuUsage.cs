using System.Diagnostics;
using System.Globalization;

namespace Aspire.Webhooks.EndToEndBench.Measurement;

/// <summary>
/// Cores used during a window, from /proc: the machine, each watched process, PostgreSQL summed over all its
/// processes (a backend per connection), this bench, and "others" - whatever else ran meanwhile on these cores.
/// </summary>
public sealed class CpuUsage(IReadOnlyDictionary<string, int> watched)
{
    private const double TicksPerSecond = 100; // USER_HZ
    private Dictionary<string, long> _start = [];
    private long _startTimestamp;

    public void Start()
    {
        _start = Read();
        _startTimestamp = Stopwatch.GetTimestamp();
    }

    public IReadOnlyDictionary<string, double> Stop()
    {
        var seconds = Stopwatch.GetElapsedTime(_startTimestamp).TotalSeconds;
        var result = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var (name, ticks) in Read())
        {
            if (_start.TryGetValue(name, out var before) && seconds > 0)
            {
                result[name] = Math.Round((ticks - before) / TicksPerSecond / seconds, 2);
            }
        }

        if (result.TryGetValue("machine", out var machine))
        {
            result["others"] = Math.Max(0, Math.Round(machine - result.Where(r => r.Key != "machine").Sum(r => r.Value), 2));
        }

        return result;
    }

    private Dictionary<string, long> Read()
    {
        var ticks = new Dictionary<string, long>(StringComparer.Ordinal);
        if (MachineBusy() is { } busy)
        {
            ticks["machine"] = busy;
        }

        foreach (var (name, pid) in watched.Append(new("bench", Environment.ProcessId)))
        {
            if (ProcessTicks(pid) is { } value)
            {
                ticks[name] = value;
            }
        }

        // Backends come and go with connections; one that exited during the window is missed (its share is "others").
        long postgres = 0;
        foreach (var dir in SafeDirectories())
        {
            if (int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) &&
                ProcessTicks(pid, "postgres") is { } value)
            {
                postgres += value;
            }
        }

        ticks["postgres"] = postgres;
        return ticks;
    }

    private static string[] SafeDirectories()
    {
        try
        {
            return Directory.GetDirectories("/proc");
        }
        catch (IOException)
        {
            return [];
        }
    }

    private static long? MachineBusy()
    {
        try
        {
            var fields = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries);
            // user nice system idle iowait irq softirq steal: all but idle and iowait were someone's work.
            return fields.Skip(1).Take(8).Where((_, i) => i is not (3 or 4))
                .Sum(f => long.Parse(f, CultureInfo.InvariantCulture));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException)
        {
            return null;
        }
    }

    private static long? ProcessTicks(int pid, string? onlyCommand = null)
    {
        string stat;
        try
        {
            stat = File.ReadAllText($"/proc/{pid}/stat");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        var open = stat.IndexOf('(');
        var close = stat.LastIndexOf(')');
        if (open < 0 || close < open || (onlyCommand is not null && stat[(open + 1)..close] != onlyCommand))
        {
            return null;
        }

        // After the command: state (3) ... utime (14), stime (15).
        var fields = stat[(close + 2)..].Split(' ');
        return fields.Length > 12 &&
            long.TryParse(fields[11], NumberStyles.None, CultureInfo.InvariantCulture, out var user) &&
            long.TryParse(fields[12], NumberStyles.None, CultureInfo.InvariantCulture, out var system)
            ? user + system
            : null;
    }
}
