namespace WorkCluster.Tests.Infrastructure;

/// <summary>
/// An application of its own for the cluster and for failure injection, set up as production would be and with short
/// clocks: 3 workers; the cluster registry in a Redis of its own (<c>registry</c>); the work store capped at
/// <see cref="RedisMaxMemory"/> (noeviction) with a queue budget below it; a 2 s lease, heartbeat TTL and shutdown
/// timeout, so that deaths, freezes and shutdowns play out within seconds. Its tests kill processes and bring them back.
/// </summary>
public sealed class ThreeWorkersAppFixture : AppFixture
{
    public static readonly TimeSpan HeartbeatTtl = TimeSpan.FromSeconds(2);
    public static readonly TimeSpan HeartbeatInterval = HeartbeatTtl / 3;
    public static readonly TimeSpan LeaseTtl = TimeSpan.FromSeconds(2);
    public static readonly TimeSpan LeaseOutageGrace = TimeSpan.FromSeconds(10);
    public static readonly TimeSpan ShutdownTimeout = TimeSpan.FromSeconds(2);
    public const string RedisMaxMemory = "32mb";
    public const long MaxQueueBytes = 16L * 1024 * 1024;
    public const int CancelGraceMs = 1000;
    public const int WebhookMaxAttempts = 4;
    public const int WebhookTimeoutMs = 1000;

    public override int WorkerReplicas => 3;

    /// <summary>The file the workers note every attempt they start in (<c>Worker:AttemptLog</c>).</summary>
    public string AttemptLog { get; } = Path.Combine(Path.GetTempPath(), $"workcluster-attempts-{Guid.NewGuid():N}.log");

    public override string RegistryResource => "registry";

    protected override IEnumerable<string> Settings =>
    [
        $"Cluster:HeartbeatTtl={HeartbeatTtl}",
        $"Cluster:Store={RegistryResource}",
        $"Work:LeaseTtl={LeaseTtl}",
        // After a store outage the sweep holds back one lease plus this grace, while the workers reconnect (their
        // client backs off up to 5 s between attempts) and renew. With a lease of 2 s instead of 30, the default 5 s
        // left too little once on Garnet, which takes a moment to replay its file: a job ran twice.
        $"Work:LeaseOutageGrace={LeaseOutageGrace}",
        $"Work:MaxQueueBytes={MaxQueueBytes}",
        $"Redis:MaxMemory={RedisMaxMemory}",
        $"Worker:ShutdownTimeout={ShutdownTimeout}",
        $"Worker:AttemptLog={AttemptLog}",
        "Work:ResultTtl=00:05:00",
        $"Work:CancelGraceMs={CancelGraceMs}",
        // Webhooks go to receivers of the tests' own, on this machine.
        "Webhooks:AllowPrivateNetworks=true",
        $"Webhooks:MaxAttempts={WebhookMaxAttempts}",
        $"Webhooks:TimeoutMs={WebhookTimeoutMs}",
        "Webhooks:RetryBaseDelay=00:00:00.200",
        "Webhooks:RetryMaxDelay=00:00:00.400",
    ];
}

[CollectionDefinition(Name)]
public sealed class ThreeWorkersCollection : ICollectionFixture<ThreeWorkersAppFixture>
{
    public const string Name = "three-workers";
}
