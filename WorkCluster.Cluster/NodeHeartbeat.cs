using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace WorkCluster.Cluster;

/// <summary>
/// Keeps this node registered: a heartbeat every third of the TTL, so that the cluster lists it and its peers find
/// its mesh address. Membership is for finding each other only: no job depends on it (a job's safety is its lease).
/// On stop the node leaves.
/// </summary>
public sealed partial class NodeHeartbeat(
    ClusterRegistry registry,
    NodeIdentity identity,
    NodeDescriber describer,
    IOptions<ClusterOptions> options,
    ILogger<NodeHeartbeat> logger) : BackgroundService
{
    private readonly TaskCompletionSource _joined = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes once the first heartbeat has reached Redis.</summary>
    public Task Joined => _joined.Task;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = options.Value.HeartbeatInterval;
        var failingSince = (DateTimeOffset?)null;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var wasAlive = await registry.HeartbeatAsync(describer.Describe());
                if (!_joined.Task.IsCompleted)
                {
                    LogJoined(identity.Id, options.Value.HeartbeatTtl.TotalSeconds);
                    _joined.TrySetResult();
                }
                else if (!wasAlive)
                {
                    LogRejoined(identity.Id);
                }
                if (failingSince is not null)
                {
                    LogRecovered(DateTimeOffset.UtcNow - failingSince.Value);
                    failingSince = null;
                }
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                if (failingSince is null)
                {
                    failingSince = DateTimeOffset.UtcNow;
                    LogFailed(e.Message);
                }
            }
            try
            {
                await Task.Delay(interval, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        try
        {
            await registry.LeaveAsync(identity.Id).WaitAsync(TimeSpan.FromSeconds(2), cancellationToken);
            LogLeft(identity.Id);
        }
        catch (Exception e) when (e is RedisException or TimeoutException or OperationCanceledException)
        {
            LogLeaveFailed(e.Message);
        }
    }

    [LoggerMessage(LogLevel.Information, "Node {NodeId} joined the cluster (heartbeat TTL {TtlSeconds} s)")]
    private partial void LogJoined(string nodeId, double ttlSeconds);

    [LoggerMessage(LogLevel.Warning, "Node {NodeId} had dropped out of the membership (its heartbeats could not reach Redis) and rejoined")]
    private partial void LogRejoined(string nodeId);

    [LoggerMessage(LogLevel.Warning, "Heartbeat failed, Redis unreachable; retrying: {Message}")]
    private partial void LogFailed(string message);

    [LoggerMessage(LogLevel.Information, "Heartbeat restored after {Duration}")]
    private partial void LogRecovered(TimeSpan duration);

    [LoggerMessage(LogLevel.Information, "Node {NodeId} left the cluster")]
    private partial void LogLeft(string nodeId);

    [LoggerMessage(LogLevel.Warning, "Could not leave the cluster cleanly (the sweep will notice): {Message}")]
    private partial void LogLeaveFailed(string message);
}
