using System.Diagnostics;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using StackExchange.Redis;
using WorkCluster.Cluster;
using WorkCluster.Queue;
using WorkCluster.Redis;

namespace WorkCluster.Tests.Infrastructure;

/// <summary>
/// The real application started from the AppHost (redis-server, API replicas, workers, the gateway), once for a
/// whole test collection, with the settings a collection asks for.
/// </summary>
public abstract class AppFixture : IAsyncLifetime
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromMinutes(3);
    private readonly DirectoryInfo _redisData = Directory.CreateTempSubdirectory("workcluster-tests-redis-");
    private readonly Dictionary<string, IReadOnlyList<string>> _replicas = [];
    private ConnectionMultiplexer? _redis;
    private ConnectionMultiplexer? _registry;

    public virtual int ApiReplicas => 2;
    public virtual int WorkerReplicas => 2;

    /// <summary>Python workers (<c>Workers:Python:Replicas</c>): none but where a collection is about them.</summary>
    public virtual int PythonWorkers => 0;

    /// <summary>The resource the cluster registry lives in: the work store <c>redis</c> unless the app gives it one of its own.</summary>
    public virtual string RegistryResource => "redis";

    /// <summary>The application's work queue keys (default key prefix).</summary>
    public static readonly QueueKeys QueueKeys = new(new RedisKeyspace("wc"));

    /// <summary>AppHost settings (<c>Section:Key=value</c>) on top of the replica counts and the data directory.</summary>
    protected abstract IEnumerable<string> Settings { get; }

    public DistributedApplication App { get; private set; } = null!;

    /// <summary>A client of the gateway: the application's only external endpoint, where users come in.</summary>
    public HttpClient Gateway { get; private set; } = null!;

    public WorkClient Work => new(Gateway);

    /// <summary>The AppHost's operators' key (scopes admin, read, submit): <see cref="Gateway"/> sends it.</summary>
    public string AdminKey { get; private set; } = null!;

    /// <summary>The AppHost's clients' key (scope submit).</summary>
    public string ClientKey { get; private set; } = null!;

    /// <summary>Makes <paramref name="http"/> send <paramref name="key"/> with every request; returns it.</summary>
    public static HttpClient UseKey(HttpClient http, string key)
    {
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
        return http;
    }

    /// <summary>A client of the gateway of its own, sending <paramref name="key"/> (none: anonymous).</summary>
    public HttpClient CreateGatewayClient(string? key)
    {
        var http = new HttpClient { BaseAddress = Gateway.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        return key is null ? http : UseKey(http, key);
    }

    /// <summary>
    /// Where the application's services send their traces and metrics, instead of the dashboard: a live receiver of
    /// the tests' own, as the dashboard is when the app runs (an unreachable endpoint would hold up every
    /// service's exit while it flushes).
    /// </summary>
    public OtlpReceiver Telemetry { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Telemetry = await OtlpReceiver.StartAsync();
        using var timeout = new CancellationTokenSource(StartTimeout);
        string[] args =
        [
            $"--Api:Replicas={ApiReplicas}",
            $"--Worker:Replicas={WorkerReplicas}",
            $"--Workers:Python:Replicas={PythonWorkers}",
            $"--Redis:DataDirectory={_redisData.FullName}",
            $"--ASPIRE_DASHBOARD_OTLP_ENDPOINT_URL={Telemetry.Endpoint}",
            "--Gateway:Port=0", // any free port: never the 8080 of an app a developer is running
            $"--Redis:Mode={(TestStore.IsGarnet ? "garnet" : "executable")}", // the store this run is for (TestStore)
            .. Settings.Select(s => "--" + s),
        ];
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.WorkCluster_AppHost>(args, timeout.Token);
        // The test log keeps the application's warnings and errors, not every request and log line.
        builder.Services.AddLogging(logging => logging
            .AddFilter("System.Net.Http", LogLevel.Warning)
            .AddFilter("Aspire.Hosting", LogLevel.Warning)
            .AddFilter("WorkCluster.AppHost.Resources", LogLevel.Warning));

        App = await builder.BuildAsync(timeout.Token);
        await App.StartAsync(timeout.Token);
        _replicas["api"] = await WaitForHealthyReplicasAsync("api", ApiReplicas, timeout.Token);
        _replicas["worker"] = await WaitForHealthyReplicasAsync("worker", WorkerReplicas, timeout.Token);
        await App.ResourceNotifications.WaitForResourceHealthyAsync("gateway", timeout.Token);
        AdminKey = await GetParameterAsync("admin-api-key");
        ClientKey = await GetParameterAsync("client-api-key");
        Gateway = App.CreateHttpClient("gateway");
        Gateway.Timeout = TimeSpan.FromSeconds(30);
        UseKey(Gateway, AdminKey);
    }

    /// <summary>A connection of the test's own to the application's Redis (the work store), to look at what the application wrote.</summary>
    public async Task<IDatabase> RedisAsync() => (_redis ??= await ConnectAsync("redis")).GetDatabase();

    /// <summary>A connection of the test's own to the Redis the cluster registry lives in.</summary>
    public async Task<IDatabase> RegistryAsync() =>
        RegistryResource == "redis" ? await RedisAsync() : (_registry ??= await ConnectAsync(RegistryResource)).GetDatabase();

    private async Task<ConnectionMultiplexer> ConnectAsync(string resource)
    {
        var connectionString = await App.GetConnectionStringAsync(resource)
            ?? throw new InvalidOperationException($"{resource} has no connection string");
        return await ConnectionMultiplexer.ConnectAsync(connectionString + ",abortConnect=false");
    }

    /// <summary>The ids of the jobs that worker <paramref name="node"/> holds a lease on (its jobs in flight).</summary>
    public async Task<string[]> LeasedJobsOfAsync(string node)
    {
        var redis = await RedisAsync();
        var leased = (await redis.SortedSetRangeByRankAsync(QueueKeys.Leases)).Select(v => (string)v!).ToArray();
        if (leased.Length == 0)
        {
            return [];
        }
        var records = await redis.HashGetAsync(QueueKeys.Jobs, leased.Select(id => (RedisValue)id).ToArray());
        return leased.Where((_, i) => records[i].HasValue
            && JsonDocument.Parse((string)records[i]!).RootElement.TryGetProperty("worker", out var worker)
            && worker.GetString() == node).ToArray();
    }

    /// <summary>Waits until <paramref name="count"/> replicas of <paramref name="resourceName"/> report healthy; returns their ids.</summary>
    public async Task<IReadOnlyList<string>> WaitForHealthyReplicasAsync(string resourceName, int count, CancellationToken cancellationToken)
    {
        var healthy = new HashSet<string>();
        await foreach (var update in App.ResourceNotifications.WatchAsync(cancellationToken))
        {
            if (update.Resource.Name != resourceName)
            {
                continue;
            }
            if (update.Snapshot.HealthStatus == HealthStatus.Healthy && update.Snapshot.State?.Text == KnownResourceStates.Running)
            {
                healthy.Add(update.ResourceId);
            }
            else
            {
                healthy.Remove(update.ResourceId);
            }
            if (healthy.Count >= count)
            {
                return healthy.Order().ToArray();
            }
        }
        throw new OperationCanceledException();
    }

    public Task<IReadOnlyList<string>> WaitForHealthyReplicasAsync(string resourceName, int count, TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        return WaitForHealthyReplicasAsync(resourceName, count, cancel.Token);
    }

    /// <summary>
    /// The operating-system process of a resource's replica: the application itself, not the <c>dotnet run</c>
    /// that the orchestrator starts it with.
    /// </summary>
    public Process GetProcess(string resourceId)
    {
        if (!App.ResourceNotifications.TryGetCurrentState(resourceId, out var state))
        {
            throw new InvalidOperationException($"No resource {resourceId}");
        }
        var pid = state.Snapshot.Properties.FirstOrDefault(p => p.Name == "executable.pid")?.Value switch
        {
            int i => i,
            long l => (int)l,
            string s => int.Parse(s),
            _ => throw new InvalidOperationException($"{resourceId} has no process id"),
        };
        return ProcessTree.FindApplication(pid);
    }

    /// <summary>The ports of the API replicas, each reachable directly (as the AppHost tells the replicas themselves).</summary>
    public int[] ApiReplicaPorts()
    {
        Assert.True(App.ResourceNotifications.TryGetCurrentState(_replicas["api"][0], out var state));
        var ports = state.Snapshot.EnvironmentVariables.Single(v => v.Name == "Replica__Ports").Value!;
        return ports.Split(',').Select(int.Parse).ToArray();
    }

    /// <summary>The id of the cluster node that runs in process <paramref name="pid"/> (from the registry in Redis).</summary>
    public async Task<string> NodeIdOfAsync(int pid)
    {
        var store = await RegistryAsync();
        var registry = new ClusterRegistry(store.Multiplexer, new ClusterScripts(), new ClusterKeys(new RedisKeyspace("wc")),
            Options.Create(new ClusterOptions()));
        string? node = null;
        await Eventually.HoldsAsync(async () =>
        {
            node = (await registry.GetMembersAsync()).FirstOrDefault(m => m.Pid == pid)?.Id;
            return node is not null;
        }, $"no cluster member has process id {pid}");
        return node!;
    }

    /// <summary>The last <paramref name="lines"/> lines a resource's process wrote (for a test's output when it fails).</summary>
    public async Task<string> LogTailAsync(string resourceId, int lines = 30)
    {
        var all = new List<string>();
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            await foreach (var batch in App.Services.GetRequiredService<ResourceLoggerService>().GetAllAsync(resourceId).WithCancellation(cancel.Token))
            {
                all.AddRange(batch.Select(line => line.Content));
            }
        }
        catch (OperationCanceledException)
        {
        }
        return string.Join(Environment.NewLine, all.TakeLast(lines));
    }

    /// <summary>The value of the AppHost's parameter <paramref name="name"/> (e.g. a generated secret).</summary>
    public async Task<string> GetParameterAsync(string name)
    {
        var model = App.Services.GetRequiredService<DistributedApplicationModel>();
        var parameter = model.Resources.OfType<ParameterResource>().Single(p => p.Name == name);
        return await parameter.GetValueAsync(CancellationToken.None) ?? throw new InvalidOperationException($"{name} has no value");
    }

    /// <summary>
    /// Brings back whatever an earlier test stopped or killed (redis-server, API and worker replicas) and waits until
    /// all are healthy, so that every test starts from the whole application.
    /// </summary>
    public async Task RestoreAsync()
    {
        foreach (var id in _replicas.Values.SelectMany(ids => ids).Prepend(RegistryResource).Prepend("redis").Distinct())
        {
            if (App.ResourceNotifications.TryGetCurrentState(id, out var state)
                && state.Snapshot.State?.Text is { } text
                && text != KnownResourceStates.Running && text != KnownResourceStates.Starting)
            {
                await ExecuteCommandAsync(id, "start");
            }
        }
        await WaitRunningAndHealthyAsync("redis");
        await WaitRunningAndHealthyAsync(RegistryResource);
        await WaitForHealthyReplicasAsync("api", ApiReplicas, Eventually.DefaultPatience);
        await WaitForHealthyReplicasAsync("worker", WorkerReplicas, Eventually.DefaultPatience);
        // Healthy is not yet serving: every API replica must have its Redis connection back (an unknown id is
        // answered 404 only by a replica that could ask Redis).
        await Eventually.HoldsAsync(async () =>
        {
            for (var i = 0; i < 2 * ApiReplicas; i++)
            {
                using var response = await Gateway.GetAsync("/api/v1/work/AAAAAAAAAAAAAAAAAAAAAA");
                if (response.StatusCode != HttpStatusCode.NotFound)
                {
                    return false;
                }
            }
            return true;
        }, "the API did not serve again after the restore");
    }

    /// <summary>
    /// Starts a resource that was stopped or killed (e.g. a Redis) and waits until its new run is running and healthy.
    /// Right after the start command the resource may still show its previous run's end (Exited): that is not a
    /// failure to start, so this watches the state rather than stop at it.
    /// </summary>
    public async Task StartAndWaitHealthyAsync(string resourceId)
    {
        await ExecuteCommandAsync(resourceId, "start");
        await WaitRunningAndHealthyAsync(resourceId);
    }

    private Task WaitRunningAndHealthyAsync(string resourceId) =>
        Eventually.HoldsAsync(() => Task.FromResult(
            App.ResourceNotifications.TryGetCurrentState(resourceId, out var state)
            && state.Snapshot.State?.Text == KnownResourceStates.Running
            && state.Snapshot.HealthStatus == HealthStatus.Healthy), $"{resourceId} did not come back running and healthy");

    /// <summary>Runs a dashboard command (start, stop, restart) on a resource and checks it succeeded.</summary>
    public async Task ExecuteCommandAsync(string resourceId, string command)
    {
        // Bounded: a command the orchestrator never answers fails the test instead of holding up the whole run.
        var result = await App.ResourceCommands.ExecuteCommandAsync(resourceId, command).WaitAsync(TimeSpan.FromMinutes(1));
        Assert.True(result.Success, $"{command} {resourceId}: {result.Message}");
    }

    public async Task DisposeAsync()
    {
        Gateway?.Dispose();
        if (_redis is not null)
        {
            await _redis.DisposeAsync();
        }
        if (_registry is not null)
        {
            await _registry.DisposeAsync();
        }
        if (App is not null)
        {
            await App.DisposeAsync();
        }
        if (Telemetry is not null)
        {
            await Telemetry.DisposeAsync();
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
