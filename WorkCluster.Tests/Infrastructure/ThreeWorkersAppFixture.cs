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

    /// <summary>A live telemetry receiver, as the dashboard is when the app runs: the services export to it.</summary>
    public OtlpReceiver Telemetry { get; private set; } = null!;

    public override async Task InitializeAsync()
    {
        Telemetry = await OtlpReceiver.StartAsync();
        await base.InitializeAsync();
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await Telemetry.DisposeAsync();
    }

    protected override IEnumerable<string> Settings =>
    [
        $"ASPIRE_DASHBOARD_OTLP_ENDPOINT_URL={Telemetry.Endpoint}",
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
