using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using WorkCluster.Queue;
using WorkCluster.Queue.Maintenance;
using WorkCluster.Tests.Infrastructure;

namespace WorkCluster.Tests.Queue;

/// <summary>
/// The queue's upkeep runs in whichever processes serve the queue, each duty in one of them per tick: a queue whose only
/// workers speak HTTP, with no .NET worker anywhere, is kept all the same.
/// </summary>
[Collection(RedisCollection.Name)]
public sealed class MaintenanceTests(RedisServerFixture redis)
{
    [Fact]
    public async Task Each_duty_is_run_by_one_process_at_a_time_which_keeps_its_turn_until_it_stops_taking_it()
    {
        var queue = redis.NewSpace().Queue;
        var tick = TimeSpan.FromSeconds(1);

        Assert.True(await queue.TakeMaintenanceTurnAsync("sweep", "api-1", tick));
        Assert.False(await queue.TakeMaintenanceTurnAsync("sweep", "api-2", tick));
        Assert.True(await queue.TakeMaintenanceTurnAsync("purge", "api-2", tick)); // each duty has its own turn
        // The holder keeps its turn tick after tick, also when its next take comes a little before a tick has passed (its
        // timer's delays vary): nobody else gets it meanwhile.
        for (var i = 0; i < 3; i++)
        {
            await Task.Delay(tick * 0.9);
            Assert.True(await queue.TakeMaintenanceTurnAsync("sweep", "api-1", tick));
            Assert.False(await queue.TakeMaintenanceTurnAsync("sweep", "api-2", tick));
        }

        // The holder stops: its turn lapses and another process has it.
        var stopped = System.Diagnostics.Stopwatch.StartNew();
        await Eventually.HoldsAsync(() => queue.TakeMaintenanceTurnAsync("sweep", "api-2", tick), "the turn never went to another process",
            TimeSpan.FromSeconds(10));
        Assert.True(stopped.Elapsed >= tick, $"taken over {stopped.Elapsed.TotalMilliseconds} ms after its holder's last take");
        Assert.False(await queue.TakeMaintenanceTurnAsync("sweep", "api-1", tick));
    }

    [Fact]
    public async Task With_no_dotnet_worker_the_maintenance_of_two_api_processes_takes_back_a_dead_http_workers_lease()
    {
        var space = redis.NewSpace(new QueueOptions { LeaseTtl = TimeSpan.FromSeconds(1), LeaseOutageGrace = TimeSpan.Zero });
        var queue = space.Queue;
        var id = (await queue.EnqueueAsync("py.a", "1", "api-test", JobOptions.Default with { HttpLane = true })).Id!;
        var leased = Assert.Single((await queue.LeaseAsync("py-1", ["py.a"], 1)).Jobs);

        // The HTTP worker dies holding it. Only the API's part of the upkeep runs: the queue library and its maintainer.
        var hosts = new List<IHost>();
        try
        {
            foreach (var name in new[] { "api-1", "api-2" })
            {
                var builder = Host.CreateApplicationBuilder();
                builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
                {
                    ["ConnectionStrings:redis"] = redis.Server.ConnectionString,
                    ["Work:KeyPrefix"] = space.Keyspace.Prefix,
                    ["Work:LeaseTtl"] = "00:00:01",
                    ["Work:LeaseOutageGrace"] = "00:00:00",
                    ["Aspire:StackExchange:Redis:DisableTracing"] = "true",
                });
                builder.Logging.ClearProviders();
                builder.AddWorkQueue();
                builder.AddQueueMaintenance(name);
                var host = builder.Build();
                hosts.Add(host);
                await host.StartAsync();
            }

            await Eventually.HoldsAsync(async () => (await queue.GetAsync(id))!.Record.Status == JobStatus.Pending,
                "the dead HTTP worker's job was never taken back", TimeSpan.FromSeconds(30));
        }
        finally
        {
            foreach (var host in hosts)
            {
                await host.StopAsync();
                host.Dispose();
            }
        }
        var job = (await queue.GetAsync(id))!.Record;
        Assert.Equal("stalled: the lease of attempt 1 on worker py-1 lapsed", job.LastError);
        Assert.Equal(QueueOutcome.Stale, await queue.CompleteAsync(leased.Lease, "1"));
        Assert.Equal(id, Assert.Single((await queue.LeaseAsync("py-2", ["py.a"], 1)).Jobs).Id);
    }

    /// <summary>A duty that throws on its first runs, then does its work.</summary>
    private sealed class FlakyDuty : IMaintenanceDuty
    {
        private int _runs;

        public int Runs => Volatile.Read(ref _runs);

        public string Name => "flaky";

        public TimeSpan Interval { get; } = TimeSpan.FromMilliseconds(100);

        public Task RunAsync(CancellationToken stoppingToken) =>
            Interlocked.Increment(ref _runs) <= 3 ? throw new InvalidOperationException("not yet") : Task.CompletedTask;
    }

    [Fact]
    public async Task A_duty_that_throws_is_shown_failed_and_run_again_and_the_other_duties_go_on()
    {
        var space = redis.NewSpace();
        var flaky = new FlakyDuty();
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:redis"] = redis.Server.ConnectionString,
            ["Work:KeyPrefix"] = space.Keyspace.Prefix,
            ["Aspire:StackExchange:Redis:DisableTracing"] = "true",
        });
        builder.Logging.ClearProviders();
        builder.AddWorkQueue();
        builder.AddQueueMaintenance("api-1");
        builder.Services.AddSingleton<IMaintenanceDuty>(flaky);
        using var host = builder.Build();
        await host.StartAsync();
        try
        {
            MaintenanceRun? Run(IReadOnlyList<MaintenanceRun> runs, string duty) => runs.SingleOrDefault(r => r.Duty == duty);
            await Eventually.HoldsAsync(async () => Run((await space.Queue.GetMaintenanceAsync()).Runs, "flaky") is { Ok: false },
                "the failing duty was never shown failed", TimeSpan.FromSeconds(30));
            var failed = Run((await space.Queue.GetMaintenanceAsync()).Runs, "flaky")!;
            Assert.Equal(("api-1", "InvalidOperationException: not yet"), (failed.Runner, failed.Error));

            // It runs again each tick, and once it goes through it is shown ok; the other duties ran on meanwhile.
            await Eventually.HoldsAsync(async () => Run((await space.Queue.GetMaintenanceAsync()).Runs, "flaky") is { Ok: true, Error: null },
                "the duty was never shown ok again", TimeSpan.FromSeconds(30));
            Assert.True(flaky.Runs > 3);
            var duties = new[] { "sweep", "promote", "purge", "repair", "schedules" };
            await Eventually.HoldsAsync(async () => (await space.Queue.GetMaintenanceAsync()).Runs.Select(r => r.Duty).Intersect(duties).Count() == duties.Length,
                "not every duty was recorded", TimeSpan.FromSeconds(30));
            var (now, runs) = await space.Queue.GetMaintenanceAsync();
            foreach (var duty in duties)
            {
                var run = Run(runs, duty);
                Assert.True(run is { Ok: true, Runner: "api-1" }, $"{duty}: {run}");
                Assert.InRange(now.ToUnixTimeMilliseconds() - run!.At, 0, 30_000);
            }
        }
        finally
        {
            await host.StopAsync();
        }
    }
}
