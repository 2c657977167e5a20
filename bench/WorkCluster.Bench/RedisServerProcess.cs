using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using StackExchange.Redis;

namespace WorkCluster.Bench;

/// <summary>A redis-server of the benchmark's own (loopback, no persistence), removed when done; or a given Redis.</summary>
public sealed class RedisServerProcess : IAsyncDisposable
{
    private readonly Process? _process;

    private RedisServerProcess(string connectionString, Process? process)
    {
        ConnectionString = connectionString;
        _process = process;
    }

    public string ConnectionString { get; }

    public static async Task<RedisServerProcess> StartOrUseAsync(string? given)
    {
        if (given is not null)
        {
            return new RedisServerProcess(given, null);
        }
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        var process = Process.Start(new ProcessStartInfo("redis-server")
        {
            ArgumentList = { "--port", port.ToString(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no" },
            RedirectStandardOutput = true,
        }) ?? throw new InvalidOperationException("redis-server did not start (is it installed?).");
        process.BeginOutputReadLine();
        var connectionString = $"127.0.0.1:{port}";
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                await using var probe = await ConnectionMultiplexer.ConnectAsync(connectionString + ",connectTimeout=500");
                await probe.GetDatabase().PingAsync();
                return new RedisServerProcess(connectionString, process);
            }
            catch (RedisConnectionException) when (attempt < 100)
            {
                await Task.Delay(50);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }
        _process?.Dispose();
    }
}
