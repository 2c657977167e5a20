using System.Diagnostics;
using StackExchange.Redis;
using WorkCluster.Redis;

namespace WorkCluster.Tests.Infrastructure;

/// <summary>A real redis-server process of the test's own, on a free loopback port, with a data directory of its own.</summary>
public sealed class RedisServer : IAsyncDisposable
{
    private readonly DirectoryInfo _dataDirectory = Directory.CreateTempSubdirectory("workcluster-tests-redis-");
    private Process? _process;

    public int Port { get; } = FreePorts.Next();

    public string ConnectionString => $"127.0.0.1:{Port},abortConnect=false";

    private readonly string[] _settings;

    private RedisServer(string[] settings) => _settings = settings;

    /// <summary>Starts a redis-server; <paramref name="settings"/> go on its command line (e.g. <c>--maxmemory</c>, <c>32mb</c>).</summary>
    public static async Task<RedisServer> StartAsync(params string[] settings)
    {
        var server = new RedisServer(settings);
        await server.StartProcessAsync();
        return server;
    }

    public async Task StartProcessAsync()
    {
        // The stores as the AppHost runs them (StoreArguments), with the default durability.
        var start = TestStore.IsGarnet
            ? new ProcessStartInfo("dotnet") { ArgumentList = { TestStore.GarnetAssembly, "--port", Port.ToString(), "--bind", "127.0.0.1" } }
            : new ProcessStartInfo("redis-server") { ArgumentList = { "--port", Port.ToString(), "--bind", "127.0.0.1", "--dir", _dataDirectory.FullName } };
        foreach (var argument in TestStore.IsGarnet ? StoreArguments.GarnetPersistence(_dataDirectory.FullName) : StoreArguments.RedisServerPersistence(Durability.Acknowledged))
        {
            start.ArgumentList.Add(argument);
        }
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        if (_settings.Length > 0 && TestStore.IsGarnet)
        {
            throw new InvalidOperationException($"redis-server settings ({string.Join(' ', _settings)}) have no Garnet form: skip the test on Garnet.");
        }
        foreach (var setting in _settings)
        {
            start.ArgumentList.Add(setting);
        }
        _process = Process.Start(start) ?? throw new InvalidOperationException("redis-server did not start.");
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();

        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                using var connection = await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{Port},connectTimeout=500");
                await connection.GetDatabase().PingAsync();
                return;
            }
            catch (RedisConnectionException)
            {
                await Task.Delay(50);
            }
        }
        throw new TimeoutException($"redis-server did not answer on port {Port}.");
    }

    public Task<ConnectionMultiplexer> ConnectAsync() => ConnectionMultiplexer.ConnectAsync(ConnectionString);

    public async ValueTask DisposeAsync()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill();
            await ProcessTree.WaitForExitAsync(_process);
        }
        _process?.Dispose();
        try
        {
            _dataDirectory.Delete(recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
