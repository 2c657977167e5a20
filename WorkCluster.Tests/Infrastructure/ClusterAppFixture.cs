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

    /// <summary>A key of the tests' own (made afresh for each run) with a small rate limit of its own: 2 a second, bursts of 10.</summary>
    public static readonly string LimitedKey = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(24));
    public const int LimitedBurst = 10;

    /// <summary>A key of the tests' own with the scope read only, configured by its SHA-256 (the API never sees it).</summary>
    public static readonly string ReaderKey = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(24));

    /// <summary>A submit key in rotation: the new key and the one it replaces, both accepted under the one name.</summary>
    public static readonly string RotatingKey = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(24));
    public static readonly string RotatingPreviousKey = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(24));
    public const int LimitedPerSecond = 2;

    protected override IEnumerable<string> Settings =>
    [
        $"Work:SleepMs={SleepMs}",
        $"Work:ResultTtl={ResultTtl}",
        $"Work:MaxAttempts={MaxAttempts}",
        "Work:RetryBaseDelay=00:00:00.100",
        "Work:RetryMaxDelay=00:00:00.500",
        $"Work:MaxQueueLength={MaxQueueLength}",
        $"Work:Timeout={HandlerTimeout}",
        // As in production: callbacks may not reach this machine or private networks (a callback test may not call out
        // at all here, so its few attempts end soon).
        "Webhooks:AllowPrivateNetworks=false",
        "Webhooks:MaxAttempts=2",
        "Webhooks:RetryBaseDelay=00:00:00.100",
        "Webhooks:RetryMaxDelay=00:00:00.500",
        "Webhooks:TimeoutMs=1000",
        $"Auth:Keys:limited:Key={LimitedKey}",
        "Auth:Keys:limited:Scopes=submit",
        $"Auth:Keys:limited:RateLimit:PerSecond={LimitedPerSecond}",
        $"Auth:Keys:limited:RateLimit:Burst={LimitedBurst}",
        $"Auth:Keys:reader:Hash={Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(ReaderKey)))}",
        "Auth:Keys:reader:Scopes=read",
        $"Auth:Keys:rotating:Key={RotatingKey}",
        $"Auth:Keys:rotating:PreviousKey={RotatingPreviousKey}",
        "Auth:Keys:rotating:Scopes=submit",
    ];
}

[CollectionDefinition(Name)]
public sealed class ClusterCollection : ICollectionFixture<ClusterAppFixture>
{
    public const string Name = "cluster";
}
