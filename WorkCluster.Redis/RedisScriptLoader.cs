using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace WorkCluster.Redis;

/// <summary>
/// Loads every registered script (SCRIPT LOAD) when the process starts and whenever a connection to Redis is
/// restored (a restarted server has an empty script cache). Never blocks start-up: if Redis is away, the scripts
/// are loaded when it comes back, and EVALSHA falls back to EVAL meanwhile.
/// </summary>
public sealed partial class RedisScriptLoader(IConnectionMultiplexer redis, IEnumerable<IRedisScriptSet> scriptSets,
    ILogger<RedisScriptLoader> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        redis.ConnectionRestored += OnConnectionRestored;
        _ = LoadAsync();
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        redis.ConnectionRestored -= OnConnectionRestored;
        return Task.CompletedTask;
    }

    private void OnConnectionRestored(object? sender, ConnectionFailedEventArgs e) => _ = LoadAsync();

    private async Task LoadAsync()
    {
        try
        {
            var loaded = 0;
            foreach (var server in redis.GetServers().Where(s => s.IsConnected && !s.IsReplica))
            {
                foreach (var script in scriptSets.SelectMany(set => set.All))
                {
                    await script.LoadAsync(server).ConfigureAwait(false);
                    loaded++;
                }
            }
            LogLoaded(loaded);
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            LogNotLoaded(e.Message);
        }
    }

    [LoggerMessage(LogLevel.Debug, "Loaded {Count} Lua scripts into Redis")]
    private partial void LogLoaded(int count);

    [LoggerMessage(LogLevel.Debug, "Lua scripts not loaded yet: {Message}")]
    private partial void LogNotLoaded(string message);
}
