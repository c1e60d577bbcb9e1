using System.Globalization;

namespace Aspire.Webhooks.LoadGen.Measurement;

/// <summary>
/// CPU time of named processes over one run, read from /proc, so a result says whether the Receiver, the broker or
/// this load generator itself was the one short of cores. Reports nothing where /proc is not there.
/// </summary>
public sealed class CpuMeter
{
    // USER_HZ: the unit of utime/stime in /proc/PID/stat; 100 on every Linux architecture .NET runs on.
    private const double TicksPerSecond = 100;

    /// <summary>The key under which all cores together are reported, whoever used them.</summary>
    public const string MachineName = "machine";

    /// <summary>The key for the machine's busy time not accounted for by the processes named.</summary>
    public const string OthersName = "others";

    private readonly Dictionary<string, int> _processes;
    private Dictionary<string, long> _startTicks = [];
    private long _startTimestamp;

    public CpuMeter(IReadOnlyDictionary<string, int> watched)
    {
        _processes = new Dictionary<string, int>(watched, StringComparer.Ordinal) { ["loadgen"] = Environment.ProcessId };
    }

    public void Start()
    {
        _startTicks = ReadAll();
        _startTimestamp = System.Diagnostics.Stopwatch.GetTimestamp();
    }

    /// <summary>Per process, the cores it kept busy on average since <see cref="Start"/> (1.0 = one full core).</summary>
    public IReadOnlyDictionary<string, double> Stop()
    {
        var seconds = System.Diagnostics.Stopwatch.GetElapsedTime(_startTimestamp).TotalSeconds;
        var result = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var (name, ticks) in ReadAll())
        {
            if (_startTicks.TryGetValue(name, out var before) && seconds > 0)
            {
                result[name] = Math.Round((ticks - before) / TicksPerSecond / seconds, 2);
            }
        }

        // Whatever else ran meanwhile (a build, another test) competed for the same cores: show it, not guess it.
        if (result.TryGetValue(MachineName, out var machine))
        {
            result[OthersName] = Math.Max(0, Math.Round(machine - result.Where(r => r.Key != MachineName).Sum(r => r.Value), 2));
        }

        return result;
    }

    private Dictionary<string, long> ReadAll()
    {
        var ticks = new Dictionary<string, long>(StringComparer.Ordinal);
        if (TryReadMachine(out var busy))
        {
            ticks[MachineName] = busy;
        }

        foreach (var (name, pid) in _processes)
        {
            if (TryRead(pid, out var value))
            {
                ticks[name] = value;
            }
        }

        return ticks;
    }

    // The first line of /proc/stat: "cpu  user nice system idle iowait irq softirq steal ..." in USER_HZ.
    private static bool TryReadMachine(out long busyTicks)
    {
        busyTicks = 0;
        string? line;
        try
        {
            line = File.ReadLines("/proc/stat").FirstOrDefault();
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }

        var fields = line?.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (fields is null || fields.Length < 9 || fields[0] != "cpu")
        {
            return false;
        }

        for (var i = 1; i <= 8; i++)
        {
            // idle (4) and iowait (5) are time nobody used the core.
            if (i is 4 or 5)
            {
                continue;
            }

            if (!long.TryParse(fields[i], NumberStyles.None, CultureInfo.InvariantCulture, out var value))
            {
                return false;
            }

            busyTicks += value;
        }

        return true;
    }

    private static bool TryRead(int pid, out long ticks)
    {
        ticks = 0;
        string stat;
        try
        {
            stat = File.ReadAllText($"/proc/{pid}/stat");
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }

        // The command name (field 2) may hold spaces and parentheses; the numeric fields follow its last ')'.
        // After it come state (field 3) ... utime (14) and stime (15).
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        if (fields.Length < 13 ||
            !long.TryParse(fields[11], NumberStyles.None, CultureInfo.InvariantCulture, out var user) ||
            !long.TryParse(fields[12], NumberStyles.None, CultureInfo.InvariantCulture, out var system))
        {
            return false;
        }

        ticks = user + system;
        return true;
    }
}
