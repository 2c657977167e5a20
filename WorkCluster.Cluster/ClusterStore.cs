using Microsoft.Extensions.Diagnostics.HealthChecks;
using StackExchange.Redis;

namespace WorkCluster.Cluster;

/// <summary>
/// The Redis the cluster registry (heartbeats, membership, mesh addresses) lives in: the work store, unless
/// <c>Cluster:Store</c> names a connection of its own. No job depends on the registry, so it can live apart: while it
/// is away, work goes on and the mesh keeps the connections it has.
/// </summary>
/// <param name="Connection">The connection to the registry's Redis.</param>
/// <param name="Name">The connection string's name (<c>redis</c> when shared with the work store).</param>
public sealed record ClusterStore(IConnectionMultiplexer Connection, string Name)
{
    /// <summary>True when the registry has a Redis of its own.</summary>
    public bool IsSeparate => Name != WorkCluster.Redis.RedisHostingExtensions.ConnectionName;
}

/// <summary>
/// The registry's own store, when separate: Degraded (not Unhealthy) while it is away, since the service's work goes
/// on without it; a load balancer must not take the service out for it.
/// </summary>
internal sealed class ClusterStoreHealthCheck(ClusterStore store) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            await store.Connection.GetDatabase().PingAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
            return HealthCheckResult.Healthy();
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            return HealthCheckResult.Degraded($"The cluster registry's store '{store.Name}' is unreachable: membership is not current.", e);
        }
    }
}
