namespace WorkCluster.Tests.Infrastructure;

/// <summary>
/// The application with <c>Redis:Durability=fast</c>: the store answers before a write is on disk (redis-server
/// <c>appendfsync everysec</c>, Garnet without commits). Its workers keep an attempt log.
/// </summary>
public sealed class FastStoreAppFixture : AppFixture
{
    /// <summary>The file the workers note every attempt they start in (<c>Worker:AttemptLog</c>).</summary>
    public string AttemptLog { get; } = Path.Combine(Path.GetTempPath(), $"workcluster-attempts-{Guid.NewGuid():N}.log");

    protected override IEnumerable<string> Settings =>
    [
        "Redis:Durability=fast",
        $"Worker:AttemptLog={AttemptLog}",
        $"Work:LeaseTtl={ThreeWorkersAppFixture.LeaseTtl}",
        $"Work:LeaseOutageGrace={ThreeWorkersAppFixture.LeaseOutageGrace}",
        $"Redis:MaxMemory={ThreeWorkersAppFixture.RedisMaxMemory}",
        "Work:ResultTtl=00:05:00",
    ];
}

[CollectionDefinition(Name)]
public sealed class FastStoreCollection : ICollectionFixture<FastStoreAppFixture>
{
    public const string Name = "fast-store";
}
