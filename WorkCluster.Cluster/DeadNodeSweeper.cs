using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace WorkCluster.Cluster;

/// <summary>Takes care of what a dead node left behind (e.g. the queue puts its jobs back).</summary>
public interface IDeadNodeHandler
{
    /// <param name="nodeId">The dead node.</param>
    /// <param name="livenessKey">Its liveness key: an atomic take-over must check it is still absent.</param>
    Task OnNodeDeadAsync(string nodeId, string livenessKey, CancellationToken cancellationToken);
}

/// <summary>
/// Every heartbeat interval, finds the nodes whose liveness key has expired, lets every
/// <see cref="IDeadNodeHandler"/> take over what they left, then forgets them. Every node sweeps; the handlers'
/// work is atomic and idempotent, so sweeping twice is harmless. Sweeps only once this node's own heartbeat has
/// been healthy for a whole TTL, so that nobody is presumed dead merely because Redis was away.
/// </summary>
public sealed partial class DeadNodeSweeper(
    ClusterRegistry registry,
    NodeHeartbeat heartbeat,
    IEnumerable<IDeadNodeHandler> handlers,
    IOptions<ClusterOptions> options,
    ILogger<DeadNodeSweeper> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.HeartbeatInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                if (heartbeat.HealthyFor < options.Value.HeartbeatTtl)
                {
                    continue;
                }
                try
                {
                    await SweepAsync(stoppingToken);
                }
                catch (Exception e) when (e is RedisException or TimeoutException)
                {
                    LogSweepFailed(e.Message);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>One sweep: returns the ids of the dead nodes it handled and forgot.</summary>
    public async Task<IReadOnlyList<string>> SweepAsync(CancellationToken cancellationToken)
    {
        var forgotten = new List<string>();
        foreach (var nodeId in await registry.GetDeadAsync())
        {
            foreach (var handler in handlers)
            {
                await handler.OnNodeDeadAsync(nodeId, registry.Keys.Node(nodeId), cancellationToken);
            }
            if (await registry.ForgetAsync(nodeId))
            {
                LogForgotten(nodeId);
                forgotten.Add(nodeId);
            }
        }
        return forgotten;
    }

    [LoggerMessage(LogLevel.Information, "Node {NodeId} is gone from the cluster")]
    private partial void LogForgotten(string nodeId);

    [LoggerMessage(LogLevel.Warning, "Sweep for dead nodes failed: {Message}")]
    private partial void LogSweepFailed(string message);
}
