using System.Diagnostics;
using System.Globalization;
using StackExchange.Redis;

namespace WorkCluster.Bench;

/// <summary>
/// CPU time spent during a scenario, split into the store's (Redis) and the client side's (this process: producers,
/// workers, load generators; or the app's processes for the http scenario), each divided by the jobs it handled.
/// </summary>
public sealed class Cpu
{
    private readonly IConnectionMultiplexer _store;
    private readonly int? _storePid;
    private readonly Func<TimeSpan> _client;
    private TimeSpan? _storeStart;
    private TimeSpan _clientStart;

    private Cpu(IConnectionMultiplexer store, int? storePid, Func<TimeSpan> client)
    {
        _store = store;
        _storePid = storePid;
        _client = client;
    }

    /// <summary>Starts measuring: the store's CPU (INFO cpu, or its process when INFO has none) and the client's.</summary>
    public static async Task<Cpu> StartAsync(IConnectionMultiplexer store, int? storePid, Func<TimeSpan>? client = null)
    {
        var cpu = new Cpu(store, storePid, client ?? ThisProcess);
        cpu._storeStart = await cpu.StoreTimeAsync();
        cpu._clientStart = cpu._client();
        return cpu;
    }

    /// <summary>µs of CPU per job since the start, for the store (null if it cannot be read) and the client side.</summary>
    public async Task<CpuPerJob> PerJobAsync(long jobs)
    {
        var store = await StoreTimeAsync();
        var client = _client() - _clientStart;
        return new CpuPerJob(
            store is { } end && _storeStart is { } start ? Math.Round((end - start).TotalMicroseconds / jobs, 2) : null,
            Math.Round(client.TotalMicroseconds / jobs, 2));
    }

    public static TimeSpan ThisProcess()
    {
        using var process = Process.GetCurrentProcess();
        return process.TotalProcessorTime;
    }

    /// <summary>The total CPU time (user + system) of the processes with these ids, read from /proc; those gone count 0.</summary>
    public static TimeSpan OfProcesses(IEnumerable<int> pids)
    {
        var ticks = 0L;
        foreach (var pid in pids)
        {
            try
            {
                // /proc/<pid>/stat: fields 14 and 15 (utime, stime) in clock ticks, after the parenthesised command.
                var stat = File.ReadAllText($"/proc/{pid}/stat");
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                ticks += long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }
        return TimeSpan.FromSeconds(ticks / (double)ClockTicksPerSecond);
    }

    /// <summary>
    /// The ids of processes whose command name (<c>/proc/&lt;pid&gt;/comm</c>, at most 15 characters) is
    /// <paramref name="name"/>'s start: found by the kernel's name, since a redis-server rewrites its command line
    /// (which is where <see cref="Process.GetProcessesByName(string)"/> looks).
    /// </summary>
    public static int[] ProcessesNamed(string name)
    {
        var comm = name.Length > 15 ? name[..15] : name;
        var pids = new List<int>();
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(directory), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                try
                {
                    if (File.ReadAllText(Path.Combine(directory, "comm")).TrimEnd('\n') == comm)
                    {
                        pids.Add(pid);
                    }
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                }
            }
        }
        return [.. pids];
    }

    // USER_HZ: 100 on every Linux this runs on (sysconf(_SC_CLK_TCK)).
    private const int ClockTicksPerSecond = 100;

    private async Task<TimeSpan?> StoreTimeAsync()
    {
        string info;
        try
        {
            info = (string?)await _store.GetDatabase().ExecuteAsync("INFO", "cpu") ?? "";
        }
        catch (RedisServerException)
        {
            info = ""; // Garnet has no such section: its process's CPU time stands in
        }
        double? seconds = null;
        foreach (var line in info.Split('\n'))
        {
            var parts = line.Trim().Split(':');
            if (parts.Length == 2 && parts[0] is "used_cpu_sys" or "used_cpu_user"
                && double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
            {
                seconds = (seconds ?? 0) + value;
            }
        }
        if (seconds is { } s)
        {
            return TimeSpan.FromSeconds(s);
        }
        return _storePid is { } pid ? OfProcesses([pid]) : null;
    }
}

/// <summary>CPU µs per job: the store's (null when it could not be read) and the client side's.</summary>
public sealed record CpuPerJob(double? RedisCpuUsPerJob, double ClientCpuUsPerJob);
