using System.Diagnostics;
using System.Globalization;
using StackExchange.Redis;
using WorkCluster.Redis;

namespace WorkCluster.Bench;

/// <summary>
/// A store of the benchmark's own (loopback, persisted as WorkCluster runs it with the run's durability, in a directory
/// of its own), removed when done, also on Ctrl+C; or a given Redis, in which the scenarios delete what they wrote.
/// </summary>
public sealed class RedisServerProcess : IAsyncDisposable
{
    private readonly Process? _process;

    private RedisServerProcess(string connectionString, Process? process)
    {
        ConnectionString = connectionString;
        _process = process;
    }

    public string ConnectionString { get; }

    /// <summary>The process id of the store the benchmark started, or null when a given one is used.</summary>
    public int? Pid => _process?.Id;

    /// <summary>The store started (redis-server or garnet), or null when a given one is used.</summary>
    public string? Store { get; private init; }

    private DirectoryInfo? _data;

    public static async Task<RedisServerProcess> StartOrUseAsync(string? given, string? store, Durability durability)
    {
        if (given is not null)
        {
            return new RedisServerProcess(given, null);
        }
        store ??= OnPath("redis-server") ? "redis" : "garnet";
        for (var attempt = 0; ; attempt++)
        {
            // Below the ephemeral range: a port the system hands out for "any port" cannot be taken from us
            // between the pick and redis-server's bind. Should it be taken anyway, redis-server exits: pick again.
            var port = Random.Shared.Next(10_000, Math.Max(EphemeralStart, 20_000));
            var data = Directory.CreateTempSubdirectory("workcluster-bench-store-");
            var start = store == "garnet"
                ? new ProcessStartInfo("dotnet")
                {
                    // The embedded store as the AppHost runs it (StoreArguments); its durability is the queues' part.
                    ArgumentList = { GarnetAssembly(), "--port", port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1" },
                }
                : new ProcessStartInfo("redis-server")
                {
                    ArgumentList = { "--port", port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--dir", data.FullName },
                };
            foreach (var argument in store == "garnet" ? StoreArguments.GarnetPersistence(data.FullName) : StoreArguments.RedisServerPersistence(durability))
            {
                start.ArgumentList.Add(argument);
            }
            start.RedirectStandardOutput = true;
            var process = Process.Start(start) ?? throw new InvalidOperationException($"{start.FileName} did not start (is it installed?).");
            process.BeginOutputReadLine();
            var server = new RedisServerProcess($"127.0.0.1:{port}", process) { Store = store, _data = data };
            if (await server.AnswersAsync())
            {
                // Ctrl+C or SIGTERM skip the await-using disposal: the redis-server must not outlive the benchmark.
                Console.CancelKeyPress += (_, _) => server.Kill();
                AppDomain.CurrentDomain.ProcessExit += (_, _) => server.Kill();
                return server;
            }
            await server.DisposeAsync();
            if (attempt == 10)
            {
                throw new InvalidOperationException("redis-server did not come up on any of 10 ports.");
            }
        }
    }

    private async Task<bool> AnswersAsync()
    {
        for (var attempt = 0; attempt < 100 && _process is { HasExited: false }; attempt++)
        {
            try
            {
                // Ours, not another server that was already listening there: its process id says so.
                await using var probe = await ConnectionMultiplexer.ConnectAsync(ConnectionString + ",connectTimeout=500");
                var info = (string?)await probe.GetDatabase().ExecuteAsync("INFO", "server") ?? "";
                // Garnet's INFO has no process id: there, a PONG while our process lives has to do.
                return Store == "garnet" ? !_process.HasExited : info.Contains($"process_id:{_process.Id}\r\n", StringComparison.Ordinal);
            }
            catch (RedisException)
            {
                await Task.Delay(50);
            }
        }
        return false;
    }

    private void Kill()
    {
        try
        {
            if (_process is { HasExited: false })
            {
                _process.Kill();
            }
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
    }

    private static bool OnPath(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Any(directory => File.Exists(Path.Combine(directory, tool)));

    /// <summary>WorkCluster.Store's assembly, built beside this benchmark (same configuration) in the repository.</summary>
    private static string GarnetAssembly()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "WorkCluster.sln")))
        {
            directory = directory.Parent;
        }
        var configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Release" : "Debug";
        var assembly = directory is null ? null : Path.Combine(directory.FullName, "WorkCluster.Store", "bin", configuration, "net10.0", "WorkCluster.Store.dll");
        return assembly is not null && File.Exists(assembly)
            ? assembly
            : throw new InvalidOperationException($"WorkCluster.Store is not built ({assembly}): build the solution first.");
    }

    private static readonly int EphemeralStart = File.Exists("/proc/sys/net/ipv4/ip_local_port_range")
        ? int.Parse(File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split(['\t', ' '], StringSplitOptions.RemoveEmptyEntries)[0], CultureInfo.InvariantCulture)
        : 49_152;

    public async ValueTask DisposeAsync()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }
        _process?.Dispose();
        try
        {
            _data?.Delete(recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
