using StackExchange.Redis;
using WorkCluster.Queue;
using WorkCluster.Tests.Infrastructure;

namespace WorkCluster.Tests.Queue;

/// <summary>
/// Jobs whose type only HTTP workers serve wait in a ready queue of their own: a .NET worker never claims one, an HTTP
/// worker leases only the types it asks for, and every way a job becomes ready again (a lapsed lease, a release, a
/// delay that falls due, a retry from the dead letter) puts it back in its own lane.
/// </summary>
[Collection(RedisCollection.Name)]
public sealed class HttpLaneTests(RedisServerFixture redis)
{
    private static readonly QueueOptions ShortLeases = new()
    {
        LeaseTtl = TimeSpan.FromMilliseconds(300),
        LeaseOutageGrace = TimeSpan.Zero,
        RetryBaseDelay = TimeSpan.Zero,
        RetryMaxDelay = TimeSpan.Zero,
        MaxAttempts = 1,
    };

    private IDatabase Db => redis.Connection.GetDatabase();

    private static async Task<string> SubmitHttpAsync(WorkQueue queue, string type, JobOptions? options = null)
    {
        var result = await queue.EnqueueAsync(type, "1", "api-test", (options ?? JobOptions.Default) with { HttpLane = true });
        Assert.Equal(QueueOutcome.Created, result.Outcome);
        return result.Id!;
    }

    [Fact]
    public async Task A_dotnet_worker_never_claims_an_http_job_and_an_http_worker_leases_only_its_types()
    {
        var queue = redis.NewSpace().Queue;
        var py = await SubmitHttpAsync(queue, "py.a");
        var other = await SubmitHttpAsync(queue, "py.b");
        var echo = await queue.SubmitAsync();

        var claimed = await queue.ClaimAsync("dotnet", 10);
        Assert.Equal([echo], claimed.Select(j => j.Id));
        Assert.Equal(2, await Db.SortedSetLengthAsync(queue.Keys.HttpReady));
        Assert.Equal("http", (await queue.GetAsync(py))!.Record.Lane);

        var leased = await queue.LeaseAsync("py-1", ["py.a", "py.c"], 10);
        Assert.Equal([py], leased.Jobs.Select(j => j.Id));
        Assert.Equal("py-1", leased.Jobs[0].Record.Worker);
        Assert.Equal(1, leased.Jobs[0].Record.Attempts);
        Assert.Equal([other], (await Db.SortedSetRangeByRankAsync(queue.Keys.HttpReady)).Select(v => (string)v!));
        Assert.Equal(1, (await queue.GetStatsAsync()).Depth); // py.b waits: the depth counts both lanes
    }

    [Fact]
    public async Task A_lapsed_or_released_http_lease_puts_its_job_back_in_its_own_lane_and_a_stale_token_changes_nothing()
    {
        var queue = redis.NewSpace(new QueueOptions { LeaseTtl = TimeSpan.FromMilliseconds(300), LeaseOutageGrace = TimeSpan.Zero }).Queue;
        var id = await SubmitHttpAsync(queue, "py.a");
        var first = (await queue.LeaseAsync("py-1", ["py.a"], 1)).Jobs.Single();

        // Not renewed: the sweep takes it back, into the HTTP lane.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while ((await queue.SweepExpiredLeasesAsync()).Requeued == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the lapsed lease was never taken back");
            await Task.Delay(50);
        }
        Assert.Equal(0, await Db.SortedSetLengthAsync(queue.Keys.Ready));
        Assert.Empty(await queue.ClaimAsync("dotnet", 10));
        Assert.Equal(QueueOutcome.Stale, await queue.CompleteAsync(first.Lease, "\"late\""));

        var second = (await queue.LeaseAsync("py-2", ["py.a"], 1)).Jobs.Single();
        Assert.Equal(id, second.Id);
        Assert.Equal(2, second.Record.Attempts);
        Assert.Equal(QueueOutcome.Released, await queue.ReleaseAsync(second.Lease));
        Assert.Equal([id], (await Db.SortedSetRangeByRankAsync(queue.Keys.HttpReady)).Select(v => (string)v!));
        Assert.Equal(0, await Db.SortedSetLengthAsync(queue.Keys.Ready));

        var third = (await queue.LeaseAsync("py-2", ["py.a"], 1)).Jobs.Single();
        Assert.Equal(QueueOutcome.Worked, await queue.CompleteAsync(third.Lease, "\"done\""));
        Assert.Equal("\"done\"", (await queue.GetAsync(id))!.Result);
    }

    [Fact]
    public async Task A_delayed_http_job_falls_due_into_its_lane_and_a_retried_one_from_the_dead_letter_goes_back_there()
    {
        var queue = redis.NewSpace(ShortLeases).Queue;
        var id = await SubmitHttpAsync(queue, "py.a", new JobOptions { Delay = TimeSpan.FromMilliseconds(100) });
        Assert.Empty((await queue.LeaseAsync("py-1", ["py.a"], 1)).Jobs);
        await Task.Delay(200);
        Assert.Empty(await queue.ClaimAsync("dotnet", 10)); // the claim promotes it, into the HTTP lane
        var leased = (await queue.LeaseAsync("py-1", ["py.a"], 1)).Jobs.Single();
        Assert.Equal(id, leased.Id);

        // Failed for good (its one attempt), then sent back from the dead letter: into the HTTP lane again.
        Assert.Equal(QueueOutcome.DeadLettered, await queue.FailAsync(leased.Lease, 1, "boom", retry: false));
        Assert.Equal(QueueOutcome.Queued, await queue.RetryFailedAsync(id));
        Assert.Equal(0, await Db.SortedSetLengthAsync(queue.Keys.Ready));
        Assert.Equal([id], (await Db.SortedSetRangeByRankAsync(queue.Keys.HttpReady)).Select(v => (string)v!));

        // Cancelled while it waits: out of the HTTP lane.
        Assert.Equal(QueueOutcome.Cancelled, (await queue.CancelAsync(id)).Outcome);
        Assert.Equal(0, await Db.SortedSetLengthAsync(queue.Keys.HttpReady));
    }
}
