using StackExchange.Redis;
using WorkCluster.Cluster;
using WorkCluster.Queue;
using WorkCluster.Tests.Infrastructure;

namespace WorkCluster.Tests.Queue;

/// <summary>
/// A job belongs to an attempt, not to a worker: each claim gives the attempt a lease (a fencing token and a deadline),
/// a lease nobody renews lapses and the sweep takes the job back, and only the attempt holding the current lease can
/// record an outcome. Each test is a way a job used to be lost or run twice while its worker was still seen alive.
/// </summary>
[Collection(RedisCollection.Name)]
public sealed class LeaseTests(RedisServerFixture redis)
{
    private static readonly QueueOptions ShortLeases = new()
    {
        LeaseTtl = TimeSpan.FromMilliseconds(300),
        LeaseOutageGrace = TimeSpan.Zero,
        RetryBaseDelay = TimeSpan.Zero,
    };

    private IDatabase Db => redis.Connection.GetDatabase();

    [Fact]
    public async Task Jobs_whose_claim_reply_never_reached_the_worker_go_back_to_the_queue_once_their_leases_lapse()
    {
        var queue = redis.NewSpace(ShortLeases).Queue;
        var ids = new[] { await queue.SubmitAsync("1"), await queue.SubmitAsync("2"), await queue.SubmitAsync("3") };

        // The claim took the jobs in Redis, but its reply was lost (a timeout on a large reply, a reset connection):
        // the worker never runs them and never renews their leases, though it lives on and keeps claiming.
        _ = await queue.ClaimAsync("unlucky", 3);
        Assert.Equal(3, await Db.SortedSetLengthAsync(queue.Keys.Leases));
        Assert.Empty(await queue.ClaimAsync("unlucky", 3));

        var swept = await SweepUntilAsync(queue, s => s.Requeued >= 3);

        Assert.Equal(3, swept.Requeued);
        Assert.Equal(0, await Db.SortedSetLengthAsync(queue.Keys.Leases));
        var next = await queue.ClaimAsync("other", 3);
        Assert.Equal(ids.Order(), next.Select(j => j.Id).Order());
        Assert.All(next, j => Assert.Equal(2, j.Record.Attempts)); // the stalled attempt counts
        Assert.All(next, j => Assert.Equal("stalled: the lease of attempt 1 on worker unlucky lapsed", j.Record.LastError));
        Assert.Equal(3, (await queue.GetStatsAsync()).Recovered);
    }

    [Fact]
    public async Task A_claim_carries_at_most_its_reply_budget_of_data_and_always_one_job()
    {
        var queue = redis.NewSpace().Queue;
        var big = '"' + new string('x', 700_000) + '"';
        var bigIds = new[] { await queue.SubmitAsync(big), await queue.SubmitAsync(big) };
        var small = new[] { await queue.SubmitAsync("1"), await queue.SubmitAsync("2") };

        var first = await queue.ClaimAsync("w1", 16);
        var second = await queue.ClaimAsync("w1", 16);

        Assert.Equal([bigIds[0]], first.Select(j => j.Id)); // the second would pass the 1 MiB budget: it waits
        Assert.Equal([bigIds[1], .. small], second.Select(j => j.Id));
        Assert.Equal(big, first[0].Data);
    }

    [Fact]
    public async Task An_attempt_whose_lease_lapsed_can_no_longer_complete_fail_release_or_renew()
    {
        var queue = redis.NewSpace(ShortLeases).Queue;
        using var stale = new CounterReader(redis.Meters, "workcluster.outcomes.stale");
        var id = await queue.SubmitAsync();

        // Attempt 1 on w1; w1 is then cut off from Redis for longer than the lease, and the job is taken back.
        var first = Assert.Single(await queue.ClaimAsync("w1", 1));
        await SweepUntilAsync(queue, s => s.Requeued >= 1);
        // w1 is back and claims the same job again: attempt 2, a new lease.
        var second = Assert.Single(await queue.ClaimAsync("w1", 1));
        Assert.Equal(2, second.Record.Attempts);
        Assert.NotEqual(first.Lease.Token, second.Lease.Token);

        // Attempt 1's outcomes, which w1 kept retrying while it was cut off, land now: each is refused.
        Assert.Equal(QueueOutcome.Stale, await queue.FailAsync(first.Lease, 1, "late failure"));
        Assert.Equal(QueueOutcome.Stale, await queue.CompleteAsync(first.Lease, "\"late result\""));
        Assert.Equal(QueueOutcome.Stale, await queue.ReleaseAsync(first.Lease));
        Assert.Equal([first.Lease], (await queue.RenewAsync([first.Lease, second.Lease])).Lost);

        // Nothing changed: attempt 2 runs alone, no retry is scheduled beside it, nothing is back in the queue.
        var job = (await queue.GetAsync(id))!;
        Assert.Equal(JobStatus.Working, job.Record.Status);
        Assert.Equal(2, job.Record.Attempts);
        Assert.Equal(second.Lease.Token, job.Record.Lease);
        Assert.Null(job.Result);
        Assert.Equal(0, await Db.SortedSetLengthAsync(queue.Keys.Scheduled));
        Assert.Equal(0, await Db.SortedSetLengthAsync(queue.Keys.Ready));
        Assert.Equal(3, stale.Total);

        Assert.Equal(QueueOutcome.Worked, await queue.CompleteAsync(second.Lease, "\"result\""));
        Assert.Equal("\"result\"", (await queue.GetAsync(id))!.Result);
        Assert.Equal(QueueOutcome.Stale, await queue.FailAsync(second.Lease, 2, "after the result"));
        Assert.Equal(JobStatus.Worked, (await queue.GetAsync(id))!.Record.Status);
    }

    [Fact]
    public async Task An_attempt_whose_job_is_gone_records_nothing_and_fails_nothing()
    {
        var queue = redis.NewSpace(ShortLeases).Queue;
        var id = await queue.SubmitAsync();
        var claimed = Assert.Single(await queue.ClaimAsync("w1", 1));
        // Meanwhile the job was taken back, failed for good, and left the dead letter (trimmed, or past its TTL).
        await Db.HashDeleteAsync(queue.Keys.Jobs, id);

        Assert.Equal(QueueOutcome.Stale, await queue.CompleteAsync(claimed.Lease, "1"));
        Assert.Equal(QueueOutcome.Stale, await queue.FailAsync(claimed.Lease, 1, "late"));
        Assert.Equal(QueueOutcome.Stale, await queue.ReleaseAsync(claimed.Lease));
        Assert.Equal([claimed.Lease], (await queue.RenewAsync([claimed.Lease])).Lost);
        Assert.False(await Db.HashExistsAsync(queue.Keys.Results, id));
    }

    // The leases that must survive here are 3 s long, renewed at once: shorter ones lapse on a loaded 2-core machine
    // between two calls of the test.
    private static readonly QueueOptions OutageLeases = new() { LeaseTtl = TimeSpan.FromSeconds(3), LeaseOutageGrace = TimeSpan.FromSeconds(1) };

    [Fact]
    public async Task A_lease_that_lapsed_while_nobody_could_reach_redis_is_kept_for_its_living_worker_to_renew()
    {
        var queue = redis.NewSpace(OutageLeases).Queue;
        await queue.SubmitAsync("1");
        await queue.SubmitAsync("2");
        await queue.SweepExpiredLeasesAsync();
        await Db.HashSetAsync(queue.Keys.SweepClock, "since", await RedisNowMsAsync() - 3_600_000); // swept for an hour
        var survivor = Assert.Single(await queue.ClaimAsync("survivor", 1));
        var casualty = Assert.Single(await queue.ClaimAsync("casualty", 1));

        // Redis is away for longer than the sweep's gap (1 s) and a lease: nobody renews and nobody sweeps, while
        // Redis's clock runs on and both leases lapse.
        await Task.Delay(OutageLeases.LeaseTtl + TimeSpan.FromMilliseconds(300));
        await AssertSurvivorKeptAndCasualtyTakenBackAsync(queue, survivor, casualty);
    }

    [Fact]
    public async Task A_lease_that_lapsed_while_the_store_restarted_is_kept_for_its_living_worker_however_short_the_restart()
    {
        var queue = redis.NewSpace(OutageLeases).Queue;
        await queue.SubmitAsync("1");
        await queue.SubmitAsync("2");
        await queue.SweepExpiredLeasesAsync("the store's run before the crash");
        await Db.HashSetAsync(queue.Keys.SweepClock, "since", await RedisNowMsAsync() - 3_600_000); // swept for an hour
        var survivor = Assert.Single(await queue.ClaimAsync("survivor", 1));
        var casualty = Assert.Single(await queue.ClaimAsync("casualty", 1));

        // Both leases lapse while their workers are cut off; then the store crashes and is back within a moment,
        // replaying a sweep of just before the crash: no gap in sweeping, but a new run of the store.
        await Task.Delay(OutageLeases.LeaseTtl + TimeSpan.FromMilliseconds(300));
        await Db.HashSetAsync(queue.Keys.SweepClock, "last", await RedisNowMsAsync());
        await AssertSurvivorKeptAndCasualtyTakenBackAsync(queue, survivor, casualty);
    }

    private async Task<long> RedisNowMsAsync()
    {
        var time = (RedisResult[])(await Db.ExecuteAsync("TIME"))!;
        return (long)time[0] * 1000 + (long)time[1] / 1000;
    }

    /// <summary>
    /// The first sweep after an outage or a restart holds back; the survivor reconnects and renews, the casualty never
    /// comes back and is taken back once the hold (a lease and the grace) is over.
    /// </summary>
    private static async Task AssertSurvivorKeptAndCasualtyTakenBackAsync(WorkQueue queue, ClaimedJob survivor, ClaimedJob casualty)
    {
        var afterOutage = await queue.SweepExpiredLeasesAsync();
        Assert.Equal((0, 0), (afterOutage.Requeued, afterOutage.DeadLettered));
        Assert.True(afterOutage.HeldBack > TimeSpan.Zero, "the first sweep after the outage did not hold back");

        Assert.Empty((await queue.RenewAsync([survivor.Lease])).Lost);
        var swept = await SweepUntilAsync(queue, s => s.Requeued >= 1, renewing: survivor.Lease);

        Assert.Equal(1, swept.Requeued);
        Assert.Equal(JobStatus.Pending, (await queue.GetAsync(casualty.Id))!.Record.Status);
        Assert.Equal(JobStatus.Working, (await queue.GetAsync(survivor.Id))!.Record.Status);
        Assert.Equal(QueueOutcome.Worked, await queue.CompleteAsync(survivor.Lease, "1"));
    }

    [Fact]
    public async Task Jobs_are_taken_back_by_their_leases_whatever_the_registry_forgets()
    {
        var space = redis.NewSpace(ShortLeases, new ClusterOptions { HeartbeatTtl = TimeSpan.FromMilliseconds(300) });
        var (queue, registry) = (space.Queue, space.Registry);
        var before = await queue.SubmitAsync("1");
        var after = await queue.SubmitAsync("2");

        // A node claims, drops out of the membership (its heartbeat lapsed; another node's heartbeat forgets it),
        // comes back, claims again, and dies: neither job is on any list the registry must know of.
        await registry.HeartbeatAsync(Node("flaky"));
        Assert.Single(await queue.ClaimAsync("flaky", 1));
        await Task.Delay(TimeSpan.FromMilliseconds(400));
        await registry.HeartbeatAsync(Node("bystander"));
        Assert.DoesNotContain("flaky", (await registry.GetMembersAsync()).Select(m => m.Id));
        Assert.Null(await Db.SortedSetScoreAsync(registry.Keys.Nodes, "flaky"));
        await registry.HeartbeatAsync(Node("flaky"));
        Assert.Single(await queue.ClaimAsync("flaky", 1));

        var swept = await SweepUntilAsync(queue, s => s.Requeued >= 2);

        Assert.Equal(2, swept.Requeued);
        Assert.Equal(new[] { before, after }.Order(), (await queue.ClaimAsync("other", 2)).Select(j => j.Id).Order());
    }

    [Fact]
    public async Task A_job_whose_lease_lapses_on_every_attempt_fails_after_max_attempts()
    {
        var queue = redis.NewSpace(new QueueOptions
        {
            LeaseTtl = TimeSpan.FromMilliseconds(300),
            LeaseOutageGrace = TimeSpan.Zero,
            MaxAttempts = 2,
        }).Queue;
        var id = await queue.SubmitAsync();

        for (var attempt = 1; attempt <= 2; attempt++)
        {
            Assert.Single(await queue.ClaimAsync($"victim-{attempt}", 1));
            var swept = await SweepUntilAsync(queue, s => s.Requeued + s.DeadLettered >= 1);
            Assert.Equal(attempt < 2 ? (1, 0) : (0, 1), (swept.Requeued, swept.DeadLettered));
        }

        var job = (await queue.GetAsync(id))!.Record;
        Assert.Equal(JobStatus.Failed, job.Status);
        Assert.Equal("stalled: the lease of attempt 2 on worker victim-2 lapsed", job.LastError);
        Assert.Equal(id, Assert.Single((await queue.GetFailedAsync(0, 10)).Jobs).Id);
    }

    [Fact]
    public async Task Renewing_keeps_a_lease_for_as_long_as_its_job_runs_and_sweeping_everywhere_takes_nothing()
    {
        var options = new QueueOptions { LeaseTtl = TimeSpan.FromSeconds(3), LeaseOutageGrace = TimeSpan.Zero };
        var queue = redis.NewSpace(options).Queue;
        var id = await queue.SubmitAsync();
        var claimed = Assert.Single(await queue.ClaimAsync("w1", 1));

        // Two lease lifetimes, renewed every sixth of one, with three sweepers at work (a lease that must last is 3 s:
        // a shorter one can lapse between two calls on a loaded machine).
        var until = DateTime.UtcNow + 2 * options.LeaseTtl;
        var taken = 0;
        while (DateTime.UtcNow < until)
        {
            Assert.Empty((await queue.RenewAsync([claimed.Lease])).Lost);
            for (var sweeper = 0; sweeper < 3; sweeper++)
            {
                var sweep = await queue.SweepExpiredLeasesAsync();
                taken += sweep.Requeued + sweep.DeadLettered;
            }
            await Task.Delay(options.LeaseRenewInterval / 2);
        }

        Assert.Equal(0, taken);
        var job = (await queue.GetAsync(id))!;
        Assert.Equal(JobStatus.Working, job.Record.Status);
        Assert.True(job.LeaseExpiresAt > DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - 50, "the renewed deadline is in the past");
        Assert.Equal(QueueOutcome.Worked, await queue.CompleteAsync(claimed.Lease, "1"));
    }

    [Fact]
    public async Task An_attempt_that_runs_past_its_timeout_and_grace_is_renewed_no_more_and_its_job_is_taken_back()
    {
        var queue = redis.NewSpace(new QueueOptions
        {
            LeaseTtl = TimeSpan.FromSeconds(3),
            LeaseOutageGrace = TimeSpan.Zero,
            Timeout = TimeSpan.FromMilliseconds(500),
            TimeoutGrace = TimeSpan.FromMilliseconds(500),
            Timeouts = { ["sha256"] = TimeSpan.FromMinutes(10) },
        }).Queue;
        var stuck = await queue.SubmitAsync(type: "echo");
        var patient = await queue.SubmitAsync(type: "sha256");
        var claimed = await queue.ClaimAsync("w1", 2);
        var (echo, sha) = (claimed.Single(j => j.Id == stuck), claimed.Single(j => j.Id == patient));

        // Its handler ignores the cancellation at its timeout, and its worker keeps renewing: past timeout and grace, the
        // renewal refuses it; the job of a type with a longer timeout of its own is renewed on.
        await Task.Delay(TimeSpan.FromSeconds(1.2));
        var renewal = await queue.RenewAsync([echo.Lease, sha.Lease]);
        Assert.Equal([echo.Lease], renewal.Overdue);
        Assert.Empty(renewal.Lost);

        var swept = await SweepUntilAsync(queue, s => s.Requeued >= 1, renewing: sha.Lease);
        Assert.Equal(1, swept.Requeued);
        var job = (await queue.GetAsync(stuck))!.Record;
        Assert.Equal(JobStatus.Pending, job.Status);
        Assert.StartsWith("abandoned: attempt 1 on worker w1 ran past its timeout", job.LastError);
        Assert.Equal(QueueOutcome.Stale, await queue.CompleteAsync(echo.Lease, "1"));
        Assert.Equal(JobStatus.Working, (await queue.GetAsync(patient))!.Record.Status);
    }

    /// <summary>Sweeps every 50 ms, renewing <paramref name="renewing"/> meanwhile, until <paramref name="done"/> holds for what was taken back.</summary>
    private static async Task<SweepResult> SweepUntilAsync(WorkQueue queue, Func<SweepResult, bool> done, JobLease? renewing = null)
    {
        var total = new SweepResult(0, 0, TimeSpan.Zero);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!done(total))
        {
            Assert.True(DateTime.UtcNow < deadline, $"the sweep took back {total.Requeued} + {total.DeadLettered} jobs in 10 s");
            if (renewing is not null)
            {
                Assert.Empty((await queue.RenewAsync([renewing])).Lost);
            }
            var sweep = await queue.SweepExpiredLeasesAsync();
            total = new SweepResult(total.Requeued + sweep.Requeued, total.DeadLettered + sweep.DeadLettered, sweep.HeldBack);
            await Task.Delay(50);
        }
        return total;
    }

    private static NodeInfo Node(string id) => new() { Id = id, Host = "test", Pid = 1 };
}
