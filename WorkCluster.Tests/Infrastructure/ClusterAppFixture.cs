using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;

namespace WorkCluster.Tests.Infrastructure;

/// <summary>
/// The real application — redis-server, 2 API replicas, 2 workers, the gateway — started once from the AppHost for
/// every test of the <see cref="ClusterCollection"/>, with short durations so that the tests run fast.
/// </summary>
public sealed class ClusterAppFixture : IAsyncLifetime
{
    public static readonly TimeSpan ResultTtl = TimeSpan.FromSeconds(2);
    public const int SleepMs = 200;
    public const int ApiReplicas = 2;
    public const int WorkerReplicas = 2;
    private static readonly TimeSpan StartTimeout = TimeSpan.FromMinutes(3);

    private readonly DirectoryInfo _redisData = Directory.CreateTempSubdirectory("workcluster-tests-redis-");

    public DistributedApplication App { get; private set; } = null!;

    /// <summary>A client of the gateway: the application's only external endpoint, where users come in.</summary>
    public HttpClient Gateway { get; private set; } = null!;

    public WorkClient Work => new(Gateway);

    public async Task InitializeAsync()
    {
        using var timeout = new CancellationTokenSource(StartTimeout);
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.WorkCluster_AppHost>(
        [
            $"--Work:SleepMs={SleepMs}",
            $"--Work:ResultTtl={ResultTtl}",
            $"--Api:Replicas={ApiReplicas}",
            $"--Worker:Replicas={WorkerReplicas}",
            $"--Redis:DataDirectory={_redisData.FullName}",
        ], timeout.Token);

        App = await builder.BuildAsync(timeout.Token);
        await App.StartAsync(timeout.Token);
        await WaitForHealthyReplicasAsync("api", ApiReplicas, timeout.Token);
        await WaitForHealthyReplicasAsync("worker", WorkerReplicas, timeout.Token);
        await App.ResourceNotifications.WaitForResourceHealthyAsync("gateway", timeout.Token);
        Gateway = App.CreateHttpClient("gateway");
    }

    /// <summary>Waits until <paramref name="count"/> replicas of <paramref name="resourceName"/> report healthy.</summary>
    public async Task WaitForHealthyReplicasAsync(string resourceName, int count, CancellationToken cancellationToken)
    {
        var healthy = new HashSet<string>();
        await foreach (var update in App.ResourceNotifications.WatchAsync(cancellationToken))
        {
            if (update.Resource.Name != resourceName)
            {
                continue;
            }
            if (update.Snapshot.HealthStatus == Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Healthy)
            {
                healthy.Add(update.ResourceId);
            }
            else
            {
                healthy.Remove(update.ResourceId);
            }
            if (healthy.Count >= count)
            {
                return;
            }
        }
    }

    public async Task DisposeAsync()
    {
        Gateway?.Dispose();
        if (App is not null)
        {
            await App.DisposeAsync();
        }
        try
        {
            _redisData.Delete(recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

[CollectionDefinition(Name)]
public sealed class ClusterCollection : ICollectionFixture<ClusterAppFixture>
{
    public const string Name = "cluster";
}
