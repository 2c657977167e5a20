using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using StackExchange.Redis;
using WorkCluster.Cluster;
using WorkCluster.Queue;
using WorkCluster.Queue.Schedules;
using WorkCluster.Redis;
using WorkCluster.Tests.Infrastructure;

namespace WorkCluster.Tests.Queue;

/// <summary>One real redis-server for the libraries' tests; each test works in a key space of its own.</summary>
public sealed class RedisServerFixture : IAsyncLifetime
{
    public RedisServer Server { get; private set; } = null!;

    /// <summary>The meter factory of the queues made here: a test measures them by meters of this scope.</summary>
    public IMeterFactory Meters { get; } = new ServiceCollection().AddMetrics().BuildServiceProvider().GetRequiredService<IMeterFactory>();

    /// <summary>The queue's instruments, on <see cref="Meters"/>.</summary>
    public QueueTelemetry Telemetry { get; }

    public RedisServerFixture() => Telemetry = new QueueTelemetry(Meters);

    /// <summary>The queues' durability here: the default (a 202 only once the job is durable).</summary>
    public StoreCommit Commit { get; } = new(Durability.Acknowledged);
    public ConnectionMultiplexer Connection { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Server = await RedisServer.StartAsync();
        Connection = await Server.ConnectAsync();
    }

    /// <summary>A queue and a cluster registry sharing a fresh key space on the shared server.</summary>
    public Space NewSpace(QueueOptions? queue = null, ClusterOptions? cluster = null)
    {
        var keyspace = new RedisKeyspace("t" + Guid.NewGuid().ToString("N")[..12]);
        var clusterKeys = new ClusterKeys(keyspace);
        return new Space(
            new WorkQueue(Connection, new QueueScripts(), new QueueKeys(keyspace), Options.Create(queue ?? new QueueOptions()), Telemetry, Commit),
            new ClusterRegistry(Connection, new ClusterScripts(), clusterKeys, Options.Create(cluster ?? new ClusterOptions())),
            keyspace);
    }

    /// <summary>Recurring schedules over <paramref name="queue"/>'s key space.</summary>
    public RecurringSchedules NewSchedules(WorkQueue queue, ScheduleOptions? options = null, QueueOptions? queueOptions = null) =>
        new(Connection, new QueueScripts(), queue.Keys, Options.Create(queueOptions ?? new QueueOptions()),
            Options.Create(options ?? new ScheduleOptions()), Telemetry, Commit, NullLogger<RecurringSchedules>.Instance);

    public WorkSignal NewSignal(WorkQueue queue) =>
        new(new RedisConnectionSettings(ConfigurationOptions.Parse(Server.ConnectionString)), queue.Keys, NullLogger<WorkSignal>.Instance);

    public async Task DisposeAsync()
    {
        await Connection.DisposeAsync();
        await Server.DisposeAsync();
    }

    public sealed record Space(WorkQueue Queue, ClusterRegistry Registry, RedisKeyspace Keyspace);
}

[CollectionDefinition(Name)]
public sealed class RedisCollection : ICollectionFixture<RedisServerFixture>
{
    public const string Name = "redis";
}
