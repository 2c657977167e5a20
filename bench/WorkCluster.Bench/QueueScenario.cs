using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Spectre.Console;
using StackExchange.Redis;
using WorkCluster.Cluster;
using WorkCluster.Queue;
using WorkCluster.Redis;
using WorkCluster.Worker;

namespace WorkCluster.Bench;

public sealed record QueueResult(
    int Jobs, int Producers, int Workers, int Concurrency,
    double EnqueueSeconds, double EnqueuedPerSecond,
    double CompletionSeconds, double CompletedPerSecond,
    LatencySummary SubmitToWorked,
    double RoundTripsPerJob, long Operations,
    double? RedisBytesPerWorkedJob, double? RedisCpuUsPerJob, double ClientCpuUsPerJob,
    HalfRateResult? HalfRate);

/// <summary>An open-loop load at half the worked rate: submissions leave on schedule, answered or not.</summary>
public sealed record HalfRateResult(int Jobs, double TargetPerSecond, double AchievedPerSecond, LatencySummary SubmitToWorked);

public sealed record BurnDownResult(int Jobs, double PrefillSeconds, double PrefilledPerSecond, double DrainSeconds, double DrainedPerSecond,
    double? RedisCpuUsPerJob, double ClientCpuUsPerJob);

/// <summary>
/// The queue library with the real worker (its claim loop, handler dispatch and result persistence) hosted in this
/// process: no HTTP. P producers enqueue N no-op jobs while W workers of concurrency C work them off.
/// </summary>
public static class QueueScenario
{
    public static async Task<QueueResult> RunAsync(BenchOptions options, RedisServerProcess store, ProgressContext progress)
    {
        var redis = store.ConnectionString;
        await WarmUpAsync(options, redis, progress);
        var result = await RunAtMaxAsync(options, store, progress);
        return result with { HalfRate = await RunAtHalfRateAsync(options, redis, result.CompletedPerSecond / 2, progress) };
    }

    /// <summary>
    /// A tenth of the jobs (at most 10,000) through producers and a worker of their own key space first, untimed: the
    /// figures are of a process past its start (code compiled to its final tier, pools and connections filled), as a
    /// server runs most of its life.
    /// </summary>
    private static async Task WarmUpAsync(BenchOptions options, string redis, ProgressContext progress)
    {
        var warmUp = options with { Jobs = Math.Clamp(options.Jobs / 10, 1, 10_000) };
        await using var space = await Space.OpenAsync(warmUp, redis);
        space.Workers = await StartWorkersAsync(warmUp, redis, space.Prefix);
        var task = progress.AddTask("queue: warm-up (untimed)", maxValue: warmUp.Jobs);
        await ProduceAsync(space.Queue, warmUp, task);
        await WaitForWorkedAsync(space.Monitor, space.Queue.Keys, warmUp.Jobs, task);
    }

    /// <summary>
    /// Half of the maximum worked rate, open loop (submissions leave every millisecond as they fall due, none waits
    /// for another's answer), as many jobs as the maximum run: submit → worked at a load the queue keeps up with.
    /// </summary>
    private static async Task<HalfRateResult> RunAtHalfRateAsync(BenchOptions options, string redis, double rate, ProgressContext progress)
    {
        var jobs = Math.Max(1, options.Jobs / 2);
        await using var space = await Space.OpenAsync(options, redis);
        space.Workers = await StartWorkersAsync(options, redis, space.Prefix);
        var task = progress.AddTask($"queue: {rate:F0}/s open loop", maxValue: jobs);
        var sent = new List<Task<EnqueueResult>>(jobs);
        var clock = Stopwatch.StartNew();
        while (sent.Count < jobs)
        {
            var due = Math.Min(jobs, (int)(clock.Elapsed.TotalSeconds * rate) + 1);
            while (sent.Count < due)
            {
                sent.Add(space.Queue.EnqueueAsync("noop", options.Payload, "bench"));
            }
            await Task.Delay(1);
        }
        var seconds = clock.Elapsed.TotalSeconds;
        foreach (var result in await Task.WhenAll(sent))
        {
            if (result.Outcome != QueueOutcome.Created)
            {
                throw new InvalidOperationException($"Enqueue answered {result.Outcome}.");
            }
        }
        await WaitForWorkedAsync(space.Monitor, space.Queue.Keys, jobs, task);
        var latency = await SubmitToWorkedAsync(space.Monitor, space.Queue.Keys);
        return new HalfRateResult(jobs, Math.Round(rate, 1), Math.Round(jobs / seconds, 1), latency.Summary());
    }

    private static async Task<QueueResult> RunAtMaxAsync(BenchOptions options, RedisServerProcess store, ProgressContext progress)
    {
        var redis = store.ConnectionString;
        await using var space = await Space.OpenAsync(options, redis);
        var (producerConnection, monitor, queue) = (space.Producer, space.Monitor, space.Queue);
        var workers = space.Workers = await StartWorkersAsync(options, redis, space.Prefix);
        var memoryBefore = await UsedMemoryAsync(monitor);
        var operationsBefore = producerConnection.OperationCount + workers.Sum(OperationCount);

        var enqueueTask = progress.AddTask("queue: enqueued", maxValue: options.Jobs);
        var workedTask = progress.AddTask("queue: worked", maxValue: options.Jobs);
        var cpu = await Cpu.StartAsync(monitor, store.Pid);
        var clock = Stopwatch.StartNew();
        var producers = ProduceAsync(queue, options, enqueueTask);
        var completion = WaitForWorkedAsync(monitor, queue.Keys, options.Jobs, workedTask);
        await producers;
        var enqueueSeconds = clock.Elapsed.TotalSeconds;
        await completion;
        var completionSeconds = clock.Elapsed.TotalSeconds;
        var perJob = await cpu.PerJobAsync(options.Jobs);

        var operations = producerConnection.OperationCount + workers.Sum(OperationCount) - operationsBefore;
        var memoryAfter = await UsedMemoryAsync(monitor);
        var latency = await SubmitToWorkedAsync(monitor, queue.Keys);
        return new QueueResult(options.Jobs, options.Producers, options.Workers, options.Concurrency,
            Math.Round(enqueueSeconds, 3), Math.Round(options.Jobs / enqueueSeconds, 1),
            Math.Round(completionSeconds, 3), Math.Round(options.Jobs / completionSeconds, 1),
            latency.Summary(),
            Math.Round((double)operations / options.Jobs, 3), operations,
            memoryAfter is { } after && memoryBefore is { } before ? Math.Round((double)(after - before) / options.Jobs, 1) : null,
            perJob.RedisCpuUsPerJob, perJob.ClientCpuUsPerJob, null);
    }

    /// <summary>The queue pre-filled with N jobs while no worker runs, then drained.</summary>
    public static async Task<BurnDownResult> RunBurnDownAsync(BenchOptions options, RedisServerProcess store, ProgressContext progress)
    {
        var redis = store.ConnectionString;
        await using var space = await Space.OpenAsync(options, redis);
        var (monitor, queue) = (space.Monitor, space.Queue);
        var cpu = await Cpu.StartAsync(monitor, store.Pid);
        var prefill = Stopwatch.StartNew();
        await ProduceAsync(queue, options, progress.AddTask("burn-down: pre-filled", maxValue: options.Jobs));
        var prefillSeconds = prefill.Elapsed.TotalSeconds;

        var workedTask = progress.AddTask("burn-down: worked", maxValue: options.Jobs);
        space.Workers = await StartWorkersAsync(options, redis, space.Prefix, waitUntilJoined: false);
        var drain = Stopwatch.StartNew();
        await WaitForWorkedAsync(monitor, queue.Keys, options.Jobs, workedTask);
        var drainSeconds = drain.Elapsed.TotalSeconds;
        var perJob = await cpu.PerJobAsync(options.Jobs); // filling and draining: every job's whole cost
        return new BurnDownResult(options.Jobs, Math.Round(prefillSeconds, 3), Math.Round(options.Jobs / prefillSeconds, 1),
            Math.Round(drainSeconds, 3), Math.Round(options.Jobs / drainSeconds, 1), perJob.RedisCpuUsPerJob, perJob.ClientCpuUsPerJob);
    }

    /// <summary>
    /// One scenario's own key space in Redis: its producer and monitor connections, its queue and its workers.
    /// Disposing stops the workers and deletes what the run wrote (see <see cref="CleanUpAsync"/>).
    /// </summary>
    private sealed class Space : IAsyncDisposable
    {
        private readonly BenchOptions _options;

        private Space(BenchOptions options, string prefix, ConnectionMultiplexer producer, ConnectionMultiplexer monitor)
        {
            _options = options;
            Prefix = prefix;
            Producer = producer;
            Monitor = monitor;
            Queue = NewQueue(producer, prefix, new StoreCommit(options.Durability));
        }

        public string Prefix { get; }
        public ConnectionMultiplexer Producer { get; }
        public ConnectionMultiplexer Monitor { get; }
        public WorkQueue Queue { get; }
        public IHost[] Workers { get; set; } = [];

        public static async Task<Space> OpenAsync(BenchOptions options, string redis) =>
            new(options, "bench" + Guid.NewGuid().ToString("N")[..8],
                await ConnectionMultiplexer.ConnectAsync(Producer(redis)), await ConnectionMultiplexer.ConnectAsync(redis));

        public async ValueTask DisposeAsync()
        {
            await StopAsync(Workers);
            await CleanUpAsync(_options, Monitor, Prefix);
            await Monitor.DisposeAsync();
            await Producer.DisposeAsync();
        }
    }

    private static ConfigurationOptions Producer(string redis)
    {
        var options = ConfigurationOptions.Parse(redis);
        RedisHostingExtensions.ConfigureForOutages(options);
        return options;
    }

    private static WorkQueue NewQueue(IConnectionMultiplexer connection, string prefix, StoreCommit commit) =>
        new(connection, new QueueScripts(), new QueueKeys(new RedisKeyspace(prefix)),
            Options.Create(new QueueOptions { MaxQueueLength = int.MaxValue, ResultTtl = TimeSpan.FromMinutes(30) }),
            new QueueTelemetry(new ServiceCollection().AddMetrics().BuildServiceProvider().GetRequiredService<IMeterFactory>()), commit);

    private static Task ProduceAsync(WorkQueue queue, BenchOptions options, ProgressTask progress)
    {
        var data = options.Payload;
        return Task.WhenAll(Enumerable.Range(0, options.Producers).Select(p => Task.Run(async () =>
        {
            for (var i = p; i < options.Jobs; i += options.Producers)
            {
                var result = await queue.EnqueueAsync("noop", data, "bench");
                if (result.Outcome != QueueOutcome.Created)
                {
                    throw new InvalidOperationException($"Enqueue answered {result.Outcome}.");
                }
                progress.Increment(1);
            }
        })));
    }

    /// <summary>Polls the cluster-wide worked total (on a connection of its own, not counted) until it reaches N.</summary>
    private static async Task WaitForWorkedAsync(IConnectionMultiplexer monitor, QueueKeys keys, int jobs, ProgressTask progress)
    {
        var db = monitor.GetDatabase();
        while (true)
        {
            var worked = (long?)await db.HashGetAsync(keys.Stats, "worked") ?? 0;
            progress.Value = worked;
            if (worked >= jobs)
            {
                return;
            }
            await Task.Delay(20);
        }
    }

    /// <summary>Submit → worked for every job, from the records' own times (the Redis server's clock, in ms).</summary>
    private static async Task<Latency> SubmitToWorkedAsync(IConnectionMultiplexer monitor, QueueKeys keys)
    {
        var latency = new Latency();
        var db = monitor.GetDatabase();
        await foreach (var entry in db.HashScanAsync(keys.Jobs, pageSize: 1000))
        {
            using var record = JsonDocument.Parse((string)entry.Value!);
            var created = record.RootElement.GetProperty("created_at").GetInt64();
            var finished = record.RootElement.GetProperty("finished_at").GetInt64();
            latency.Record(TimeSpan.FromMilliseconds(Math.Max(finished - created, 0)));
        }
        return latency;
    }

    /// <summary>The store's used_memory, or null where it reports none (Garnet's INFO memory has no used_memory).</summary>
    private static async Task<long?> UsedMemoryAsync(IConnectionMultiplexer connection)
    {
        var info = (string)(await connection.GetDatabase().ExecuteAsync("INFO", "memory"))!;
        var line = info.Split('\n').FirstOrDefault(l => l.StartsWith("used_memory:", StringComparison.Ordinal));
        return line is null ? null : long.Parse(line["used_memory:".Length..].Trim(), CultureInfo.InvariantCulture);
    }

    private static long OperationCount(IHost worker) =>
        worker.Services.GetRequiredService<IConnectionMultiplexer>().OperationCount + worker.Services.GetRequiredService<WorkSignal>().OperationCount;

    /// <summary>W worker hosts, each the real worker (AddWorker) with concurrency C, on a key prefix of the run's own.</summary>
    private static async Task<IHost[]> StartWorkersAsync(BenchOptions options, string redis, string prefix, bool waitUntilJoined = true)
    {
        var hosts = new IHost[options.Workers];
        for (var i = 0; i < hosts.Length; i++)
        {
            var builder = Host.CreateApplicationBuilder();
            builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["ConnectionStrings:redis"] = redis,
                ["Work:KeyPrefix"] = prefix,
                ["Work:ResultTtl"] = "00:30:00",
                ["Work:DemoTypes"] = "true", // the noop type
                ["Redis:Durability"] = options.Durability.ToString(),
                ["Worker:Concurrency"] = options.Concurrency.ToString(CultureInfo.InvariantCulture),
                ["Aspire:StackExchange:Redis:DisableTracing"] = "true",
            });
            builder.Logging.ClearProviders();
            builder.AddWorker(NodeIdentity.Create($"bench-worker-{i}"));
            hosts[i] = builder.Build();
            await hosts[i].StartAsync();
        }
        if (waitUntilJoined)
        {
            await Task.WhenAll(hosts.Select(h => h.Services.GetRequiredService<NodeHeartbeat>().Joined));
            await Task.Delay(200); // the workers reach their idle wait
        }
        return hosts;
    }

    /// <summary>
    /// On a Redis the benchmark was given (<c>--redis</c>), deletes every key of the run's own key space; a
    /// redis-server of its own goes away whole.
    /// </summary>
    private static async Task CleanUpAsync(BenchOptions options, IConnectionMultiplexer connection, string prefix)
    {
        if (options.Redis is null)
        {
            return;
        }
        try
        {
            await DeleteKeysAsync(connection, new RedisKeyspace(prefix).Key("*"));
        }
        catch (RedisException e)
        {
            // Never hide the run's own outcome behind a failed clean-up; say what is left.
            Console.Error.WriteLine($"Could not delete the keys '{new RedisKeyspace(prefix).Key("*")}': {e.Message}");
        }
    }

    private static async Task DeleteKeysAsync(IConnectionMultiplexer connection, string pattern)
    {
        var db = connection.GetDatabase();
        foreach (var server in connection.GetServers().Where(s => s.IsConnected && !s.IsReplica))
        {
            var batch = new List<RedisKey>(1000);
            await foreach (var key in server.KeysAsync(pattern: pattern, pageSize: 1000))
            {
                batch.Add(key);
                if (batch.Count == 1000)
                {
                    await db.KeyDeleteAsync([.. batch]);
                    batch.Clear();
                }
            }
            if (batch.Count > 0)
            {
                await db.KeyDeleteAsync([.. batch]);
            }
        }
    }

    private static async Task StopAsync(IEnumerable<IHost> hosts)
    {
        foreach (var host in hosts)
        {
            await host.StopAsync();
            host.Dispose();
        }
    }
}
