using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;
using WorkCluster.Redis;

namespace WorkCluster.Cluster.Mesh;

/// <summary>
/// Keeps the mesh in step with membership: every heartbeat interval, reads the live members from Redis, connects
/// to new ones and drops those that left. While Redis is away it logs, backs off and leaves the connections it has
/// alone, so the mesh keeps carrying messages; when Redis returns, membership converges again.
/// </summary>
public sealed partial class MeshMembership(ClusterRegistry registry, MeshPeers peers, IOptions<ClusterOptions> options,
    ILogger<MeshMembership> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = options.Value.HeartbeatInterval;
        var backoff = new Backoff(interval, TimeSpan.FromSeconds(10));
        var failing = false;
        while (!stoppingToken.IsCancellationRequested)
        {
            var delay = interval;
            try
            {
                peers.Reconcile(await registry.GetMembersAsync(), stoppingToken);
                if (failing)
                {
                    LogMembershipRestored(peers.Known.Count);
                    failing = false;
                }
                backoff.Reset();
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                if (!failing)
                {
                    LogMembershipUnavailable(peers.Connected.Count, e.Message);
                    failing = true;
                }
                delay = interval + backoff.Next();
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                // Whatever else goes wrong, the loop goes on: the mesh must outlive a bad round.
                LogRoundFailed(e);
                delay = interval + backoff.Next();
            }
            try
            {
                await Task.Delay(delay, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
        await peers.DisposeAsync();
    }

    [LoggerMessage(LogLevel.Warning, "Mesh: membership unreadable (Redis unreachable); keeping {Count} peer connections: {Message}")]
    private partial void LogMembershipUnavailable(int count, string message);

    [LoggerMessage(LogLevel.Error, "Mesh: membership round failed; trying again")]
    private partial void LogRoundFailed(Exception exception);

    [LoggerMessage(LogLevel.Information, "Mesh: membership readable again ({Count} peers)")]
    private partial void LogMembershipRestored(int count);
}
