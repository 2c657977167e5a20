namespace WorkCluster.Tests.Infrastructure;

/// <summary>
/// An application of its own for the cluster and for failure injection: 3 workers, a 2 s heartbeat TTL and a 2 s
/// shutdown timeout, so that joins, deaths and shutdowns play out within seconds. Its tests kill processes and
/// bring them back.
/// </summary>
public sealed class ThreeWorkersAppFixture : AppFixture
{
    public static readonly TimeSpan HeartbeatTtl = TimeSpan.FromSeconds(2);
    public static readonly TimeSpan HeartbeatInterval = HeartbeatTtl / 3;
    public static readonly TimeSpan ShutdownTimeout = TimeSpan.FromSeconds(2);

    public override int WorkerReplicas => 3;

    protected override IEnumerable<string> Settings =>
    [
        $"Cluster:HeartbeatTtl={HeartbeatTtl}",
        $"Worker:ShutdownTimeout={ShutdownTimeout}",
        "Work:ResultTtl=00:05:00",
    ];
}

[CollectionDefinition(Name)]
public sealed class ThreeWorkersCollection : ICollectionFixture<ThreeWorkersAppFixture>
{
    public const string Name = "three-workers";
}
