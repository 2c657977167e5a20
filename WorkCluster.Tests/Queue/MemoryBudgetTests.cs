using Microsoft.Extensions.Options;
using StackExchange.Redis;
using WorkCluster.Cluster;
using WorkCluster.Queue;
using WorkCluster.Redis;
using WorkCluster.Tests.Infrastructure;

namespace WorkCluster.Tests.Queue;

/// <summary>
/// The queue's memory is bounded by its own budgets, and a Redis at its memory limit never wedges it: submissions are
/// refused, while draining (claim, renew, outcomes, sweep, purge) and joining (heartbeat) go on.
/// </summary>
[Collection(RedisCollection.Name)]
public sealed class MemoryBudgetTests(RedisServerFixture redis)
{
    private IDatabase Db => redis.Connection.GetDatabase();

    [Fact]
    public async Task The_job_budget_counts_every_unfinished_job_waiting_scheduled_or_working()
    {
        var queue = redis.NewSpace(new QueueOptions { MaxQueueLength = 3, RetryBaseDelay = TimeSpan.FromMinutes(1) }).Queue;
        for (var i = 0; i < 3; i++)
        {
            await queue.SubmitAsync();
        }
        var claimed = await queue.ClaimAsync("w1", 2);
        await queue.FailAsync(claimed[0].Lease, 1, "boom"); // waits a minute for its retry

        // One waiting, one scheduled for a retry, one working: full, and a refusal writes nothing.
        var refused = await queue.EnqueueAsync("echo", "1", "api", new JobOptions { IdempotencyKey = "k", Fingerprint = "f" });
        Assert.Equal(new EnqueueResult(QueueOutcome.QueueFull, null, null), refused);
        Assert.Equal(3, await Db.HashLengthAsync(queue.Keys.Jobs));
        Assert.False(await Db.KeyExistsAsync(queue.Keys.Idempotency));

        // Room again once one is finished.
        Assert.Equal(QueueOutcome.Worked, await queue.CompleteAsync(claimed[1].Lease, "1"));
        Assert.Equal(QueueOutcome.Created, (await queue.EnqueueAsync("echo", "1", "api")).Outcome);
    }

    [Fact]
    public async Task A_result_larger_than_its_limit_fails_the_job_and_results_past_their_budget_go_oldest_first()
    {
        var queue = redis.NewSpace(new QueueOptions { MaxResultBytes = 1000, MaxResultsBytes = 2500, ResultTtl = TimeSpan.FromHours(1) }).Queue;
        var result = '"' + new string('r', 998) + '"'; // 1000 bytes
        var ids = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            ids.Add(await queue.SubmitAsync());
        }
        var claimed = await queue.ClaimAsync("w1", 4);

        Assert.Equal(QueueOutcome.ResultTooLarge, await queue.CompleteAsync(claimed[0].Lease, result + " "));
        var tooLarge = (await queue.GetAsync(ids[0]))!;
        Assert.Equal(JobStatus.Failed, tooLarge.Record.Status);
        Assert.Contains("larger than Work:MaxResultBytes", tooLarge.Record.LastError);
        Assert.Null(tooLarge.Result);

        // Three results of 1000 bytes in a budget of 2500: the one that expires first goes, counted.
        for (var i = 1; i < 4; i++)
        {
            Assert.Equal(QueueOutcome.Worked, await queue.CompleteAsync(claimed[i].Lease, result));
            await Task.Delay(5); // each expires a little later than the one before
        }
        Assert.Null(await queue.GetAsync(ids[1]));
        Assert.Equal(result, (await queue.GetAsync(ids[2]))!.Result);
        Assert.Equal(result, (await queue.GetAsync(ids[3]))!.Result);
        Assert.Equal(2000L, (long)await Db.HashGetAsync(queue.Keys.Stats, "result_bytes"));
        Assert.Equal(1L, (long)await Db.HashGetAsync(queue.Keys.Stats, "results_dropped"));
    }

    [Fact]
    public async Task The_byte_budget_counts_the_data_of_unfinished_jobs_and_is_given_back_as_they_finish()
    {
        var queue = redis.NewSpace(new QueueOptions { MaxQueueBytes = 2500, MaxAttempts = 1 }).Queue;
        var data = '"' + new string('x', 998) + '"'; // 1000 bytes
        await queue.SubmitAsync(data);
        await queue.SubmitAsync(data);

        Assert.Equal(QueueOutcome.QueueBytesFull, (await queue.EnqueueAsync("echo", data, "api")).Outcome);
        Assert.Equal(QueueOutcome.Created, (await queue.EnqueueAsync("echo", "\"small\"", "api")).Outcome);
        Assert.Equal(2007, (await queue.GetStatsAsync()).UnfinishedBytes);

        var claimed = await queue.ClaimAsync("w1", 3);
        Assert.Equal(QueueOutcome.Worked, await queue.CompleteAsync(claimed[0].Lease, "1"));
        Assert.Equal(QueueOutcome.DeadLettered, await queue.FailAsync(claimed[1].Lease, 1, "boom"));
        Assert.Equal(7, (await queue.GetStatsAsync()).UnfinishedBytes); // the dead letter's data is not the queue's

        // A failed job's retry needs room in the budget again.
        await queue.SubmitAsync(data);
        await queue.SubmitAsync(data);
        Assert.Equal(QueueOutcome.QueueFull, await queue.RetryFailedAsync(claimed[1].Id));
        Assert.Equal(JobStatus.Failed, (await queue.GetAsync(claimed[1].Id))!.Record.Status);
    }

    [Fact]
    public async Task The_dead_letter_keeps_its_newest_entries_within_its_count_and_bytes()
    {
        var queue = redis.NewSpace(new QueueOptions { MaxAttempts = 1, MaxFailed = 3, MaxFailedBytes = 2500 }).Queue;
        var small = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            small.Add(await FailOneAsync(queue, "1"));
        }
        Assert.Equal(small.TakeLast(3).Reverse(), (await queue.GetFailedAsync(0, 10)).Jobs.Select(j => j.Id));
        Assert.Null(await queue.GetAsync(small[0])); // dropped whole
        Assert.False(await Db.HashExistsAsync(queue.Keys.Payloads, small[0]));

        var big = '"' + new string('x', 998) + '"';
        var bigOnes = new[] { await FailOneAsync(queue, big), await FailOneAsync(queue, big), await FailOneAsync(queue, big) };

        var page = await queue.GetFailedAsync(0, 10);
        Assert.Equal(bigOnes.TakeLast(2).Reverse(), page.Jobs.Select(j => j.Id)); // 2,000 bytes fit in 2,500; 3,000 do not
        var stats = await queue.GetStatsAsync();
        Assert.Equal(2, stats.DeadLetter);
        Assert.Equal(6, stats.DeadLetterDropped);
        Assert.Equal(2000, (long)await Db.HashGetAsync(queue.Keys.Stats, "failed_bytes"));
    }

    [Fact]
    public async Task An_error_is_kept_as_at_most_1_KiB_on_one_line()
    {
        var queue = redis.NewSpace(new QueueOptions { MaxAttempts = 1 }).Queue;
        var id = await queue.SubmitAsync();
        var claimed = Assert.Single(await queue.ClaimAsync("w1", 1));
        var error = "first line\r\nforged: line\u0000" + string.Concat(Enumerable.Repeat("é😀", 200_000)) + "\ud800";

        await queue.FailAsync(claimed.Lease, 1, error);

        var kept = (await queue.GetAsync(id))!.Record.LastError!;
        Assert.StartsWith("first line  forged: line é😀", kept);
        Assert.EndsWith("…", kept);
        Assert.InRange(System.Text.Encoding.UTF8.GetByteCount(kept), 1000, ErrorText.MaxBytes);
        Assert.DoesNotContain('\n', kept);
        Assert.DoesNotContain('\r', kept);
        Assert.Equal(kept, (await queue.GetFailedAsync(0, 1)).Jobs[0].Record.LastError);
    }

    [Theory]
    [InlineData("", "")]
    [InlineData("short", "short")]
    [InlineData("a\nb\tc", "a b c")]
    [InlineData("emoji 😀 é", "emoji 😀 é")]
    public void ErrorText_keeps_a_short_error_as_it_is_on_one_line(string error, string expected) =>
        Assert.Equal(expected, ErrorText.Bound(error));

    [Fact]
    public void ErrorText_replaces_a_lone_surrogate_which_has_no_UTF8_form() =>
        Assert.Equal("lone \ufffd surrogate", ErrorText.Bound("lone " + (char)0xD800 + " surrogate"));

    [SkippableFact]
    public async Task At_redis_maxmemory_submissions_are_refused_while_claims_renewals_outcomes_sweeps_and_heartbeats_go_on()
    {
        TestStore.SkipOnGarnet("maxmemory with noeviction (Garnet has no memory limit that refuses writes)");
        await using var server = await RedisServer.StartAsync("--maxmemory", "32mb", "--maxmemory-policy", "noeviction");
        await using var connection = await server.ConnectAsync();
        var keyspace = new RedisKeyspace("oom");
        var queue = new WorkQueue(connection, new QueueScripts(), new QueueKeys(keyspace),
            Options.Create(new QueueOptions { MaxQueueBytes = long.MaxValue, LeaseTtl = TimeSpan.FromMilliseconds(300), LeaseOutageGrace = TimeSpan.Zero }),
            redis.Telemetry, new StoreCommit(Durability.Acknowledged));
        var registry = new ClusterRegistry(connection, new ClusterScripts(), new ClusterKeys(keyspace), Options.Create(new ClusterOptions()));
        await registry.HeartbeatAsync(new NodeInfo { Id = "early", Host = "test" });

        // Fill Redis with 1 MiB jobs until it refuses one for memory.
        var megabyte = '"' + new string('x', 1024 * 1024 - 2) + '"';
        var accepted = 0;
        RedisServerException? refusal = null;
        while (refusal is null && accepted < 100)
        {
            try
            {
                await queue.SubmitAsync(megabyte);
                accepted++;
            }
            catch (RedisServerException e)
            {
                refusal = e;
            }
        }
        Assert.NotNull(refusal);
        Assert.True(RedisAvailability.IsOutOfMemory(refusal), refusal.Message);
        Assert.True(RedisAvailability.IsUnavailable(refusal));
        Assert.InRange(accepted, 20, 40);
        Assert.Equal(accepted, (await queue.GetStatsAsync()).Depth); // the refused one left nothing behind
        // The refused request's own buffer is freed with it: push Redis over its limit for good (as the drain's writes
        // may), so that every ordinary write is refused from here on.
        await connection.GetDatabase().ScriptEvaluateAsync("#!lua flags=allow-oom\nreturn redis.call('SET', KEYS[1], ARGV[1])",
            ["filler"], [megabyte]);
        await Assert.ThrowsAsync<RedisServerException>(() => connection.GetDatabase().StringSetAsync("probe", "1"));

        // Still at the limit: a new worker joins, claims, renews, fails one job and completes the others; a lease
        // that lapses is swept; pause and resume work.
        await registry.HeartbeatAsync(new NodeInfo { Id = "newcomer", Host = "test" });
        Assert.Contains("newcomer", (await registry.GetMembersAsync()).Select(m => m.Id));
        await queue.PauseAsync();
        await queue.ResumeAsync();
        var first = Assert.Single(await queue.ClaimAsync("newcomer", 16)); // 1 MiB: the claim's reply budget
        Assert.Empty((await queue.RenewAsync([first.Lease])).Lost);
        Assert.Equal(QueueOutcome.RetryScheduled, await queue.FailAsync(first.Lease, 1, "boom"));
        var stalled = Assert.Single(await queue.ClaimAsync("newcomer", 1));
        await Task.Delay(TimeSpan.FromMilliseconds(400));
        var swept = new SweepResult(0, 0, TimeSpan.Zero);
        for (var i = 0; i < 40 && swept.Requeued == 0; i++)
        {
            swept = await queue.SweepExpiredLeasesAsync();
            await Task.Delay(50);
        }
        Assert.Equal(1, swept.Requeued);
        Assert.Equal(JobStatus.Pending, (await queue.GetAsync(stalled.Id))!.Record.Status);

        // Drain it all: the queue empties, and Redis takes new work again.
        var worked = 0;
        while (true)
        {
            await queue.PromoteDueAsync();
            var jobs = await queue.ClaimAsync("newcomer", 16);
            if (jobs.Count == 0 && (await queue.GetStatsAsync()) is { Depth: 0, Scheduled: 0 })
            {
                break;
            }
            if (jobs.Count == 0)
            {
                await Task.Delay(50); // a retry's delay
            }
            foreach (var job in jobs)
            {
                Assert.Equal(QueueOutcome.Worked, await queue.CompleteAsync(job.Lease, "1"));
                worked++;
            }
        }
        Assert.Equal(accepted, worked);
        var stats = await queue.GetStatsAsync();
        Assert.Equal((0, 0, 0L), (stats.Depth, stats.Leases, stats.UnfinishedBytes));
        await connection.GetDatabase().KeyDeleteAsync("filler");
        Assert.Equal(QueueOutcome.Created, (await queue.EnqueueAsync("echo", megabyte, "api")).Outcome);
    }

    private static async Task<string> FailOneAsync(WorkQueue queue, string data)
    {
        var id = await queue.SubmitAsync(data);
        var claimed = Assert.Single(await queue.ClaimAsync("w1", 1));
        Assert.Equal(QueueOutcome.DeadLettered, await queue.FailAsync(claimed.Lease, 1, "boom"));
        await Task.Delay(2); // distinct failure times
        return id;
    }
}
