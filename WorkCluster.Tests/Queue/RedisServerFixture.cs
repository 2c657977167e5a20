using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using StackExchange.Redis;
using WorkCluster.Queue;
using WorkCluster.Tests.Infrastructure;

namespace WorkCluster.Tests.Queue;

/// <summary>One real redis-server for the queue library's tests; each test works under a key prefix of its own.</summary>
public sealed class RedisServerFixture : IAsyncLifetime
{
    public RedisServer Server { get; private set; } = null!;
    public ConnectionMultiplexer Connection { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Server = await RedisServer.StartAsync();
        Connection = await Server.ConnectAsync();
    }

    /// <summary>A queue of its own (fresh key prefix) on the shared server.</summary>
    public WorkQueue NewQueue(TimeSpan? resultTtl = null) => new(Connection, new QueueScripts(), Options.Create(new QueueOptions
    {
        KeyPrefix = "t" + Guid.NewGuid().ToString("N")[..12],
        ResultTtl = resultTtl ?? TimeSpan.FromMinutes(5),
    }));

    public WorkSignal NewSignal(WorkQueue queue) =>
        new(ConfigurationOptions.Parse(Server.ConnectionString), queue.Keys, NullLogger<WorkSignal>.Instance);

    public async Task DisposeAsync()
    {
        await Connection.DisposeAsync();
        await Server.DisposeAsync();
    }
}

[CollectionDefinition(Name)]
public sealed class RedisCollection : ICollectionFixture<RedisServerFixture>
{
    public const string Name = "redis";
}
