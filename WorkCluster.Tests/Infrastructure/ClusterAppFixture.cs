namespace WorkCluster.Tests.Infrastructure;

/// <summary>
/// The application as users meet it — 2 API replicas, 2 workers, the gateway — with short durations and small
/// limits so that retries, TTLs and back-pressure show within seconds. Its tests leave it running as they found it.
/// </summary>
public sealed class ClusterAppFixture : AppFixture
{
    public static readonly TimeSpan ResultTtl = TimeSpan.FromSeconds(2);
    public const int SleepMs = 200;
    public const int MaxAttempts = 4;
    public const int MaxQueueLength = 20;
    public static readonly TimeSpan HandlerTimeout = TimeSpan.FromSeconds(3);

    /// <summary>Where the application's services send their traces and metrics (instead of the dashboard).</summary>
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
        $"Work:SleepMs={SleepMs}",
        $"Work:ResultTtl={ResultTtl}",
        $"Work:MaxAttempts={MaxAttempts}",
        "Work:RetryBaseDelay=00:00:00.100",
        "Work:RetryMaxDelay=00:00:00.500",
        $"Work:MaxQueueLength={MaxQueueLength}",
        $"Work:Timeout={HandlerTimeout}",
    ];
}

[CollectionDefinition(Name)]
public sealed class ClusterCollection : ICollectionFixture<ClusterAppFixture>
{
    public const string Name = "cluster";
}
