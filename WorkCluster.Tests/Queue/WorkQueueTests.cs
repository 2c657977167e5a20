using System.Collections.Concurrent;
using StackExchange.Redis;
using WorkCluster.Queue;

namespace WorkCluster.Tests.Queue;

[Collection(RedisCollection.Name)]
public sealed class WorkQueueTests(RedisServerFixture redis)
{
    private IDatabase Db => redis.Connection.GetDatabase();

    [Fact]
    public async Task Thousand_jobs_claimed_by_16_concurrent_consumers_are_each_claimed_exactly_once()
    {
        const int jobCount = 1000;
        const int consumerCount = 16;
        var queue = redis.NewSpace().Queue;
        var enqueued = new ConcurrentBag<string>();
        var claims = new ConcurrentBag<(string Worker, string Id)>();
        var completed = 0;

        // Four producers submit while sixteen consumers claim, so that claims race with enqueues and each other.
        var producers = Enumerable.Range(0, 4).Select(p => Task.Run(async () =>
        {
            for (var i = 0; i < jobCount / 4; i++)
            {
                enqueued.Add(await queue.SubmitAsync($"{{\"n\":{p * 1000 + i}}}"));
            }
        })).ToArray();
        var consumers = Enumerable.Range(0, consumerCount).Select(c => Task.Run(async () =>
        {
            var worker = $"consumer-{c}";
            while (Volatile.Read(ref completed) < jobCount)
            {
                var jobs = await queue.ClaimAsync(worker, 4);
                foreach (var job in jobs)
                {
                    claims.Add((worker, job.Id));
                    Assert.Equal(QueueOutcome.Worked, await queue.CompleteAsync(job.Lease, job.Data));
                    Interlocked.Increment(ref completed);
                }
                if (jobs.Count == 0)
                {
                    await Task.Delay(1);
                }
            }
        })).ToArray();

        await Task.WhenAll(producers).WaitAsync(TimeSpan.FromMinutes(1));
        await Task.WhenAll(consumers).WaitAsync(TimeSpan.FromMinutes(1));

        Assert.Equal(jobCount, enqueued.Distinct().Count());
        Assert.Equal(jobCount, claims.Count);
        Assert.Equal(enqueued.Order(), claims.Select(c => c.Id).Order());

        // Nothing left anywhere but the finished records, their results and their expiry times.
        var keys = queue.Keys;
        Assert.Equal(0, await Db.SortedSetLengthAsync(keys.Ready));
        Assert.Equal(0, await Db.SortedSetLengthAsync(keys.Leases));
        Assert.Equal(0, await Db.HashLengthAsync(keys.Payloads));
        Assert.Equal(0, (long)await Db.HashGetAsync(keys.Stats, "unfinished_bytes"));
        Assert.Equal(jobCount, await Db.HashLengthAsync(keys.Jobs));
        Assert.Equal(jobCount, await Db.HashLengthAsync(keys.Results));
        Assert.Equal(jobCount, await Db.SortedSetLengthAsync(keys.Expiry));
        foreach (var (worker, id) in claims)
        {
            var job = await queue.GetAsync(id);
            Assert.NotNull(job);
            Assert.Equal(JobStatus.Worked, job.Record.Status);
            Assert.Equal(worker, job.Record.Worker);
            Assert.Equal(1, job.Record.Attempts);
        }
    }

    [Fact]
    public async Task Each_transition_leaves_the_keys_consistent()
    {
        var queue = redis.NewSpace(new QueueOptions { ResultTtl = TimeSpan.FromSeconds(30) }).Queue;
        var keys = queue.Keys;

        // enqueue (within a trace): a pending record that remembers the trace, its payload, its id in the queue, a wake-up token
        using var submitter = new System.Diagnostics.Activity("submit").SetParentId("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01").Start();
        var accepted = await queue.EnqueueAsync("echo", """{"a":[1,2]}""", "api-test");
        submitter.Stop();
        var id = accepted.Id!;
        Assert.Equal("0af7651916cd43dd8448eb211c80319c", accepted.TraceId);
        var pending = await queue.GetAsync(id);
        Assert.Equal(JobStatus.Pending, pending!.Record.Status);
        Assert.Equal("api-test", pending.Record.AcceptedBy);
        Assert.Equal(0, pending.Record.Attempts);
        Assert.Equal("0af7651916cd43dd8448eb211c80319c", pending.Record.TraceId);
        Assert.Equal([id], (await Db.SortedSetRangeByRankAsync(keys.Ready)).Select(v => (string)v!));
        Assert.Equal("""{"a":[1,2]}""", await Db.HashGetAsync(keys.Payloads, id));
        Assert.Equal(1, await Db.ListLengthAsync(keys.Signal));

        Assert.Equal(11, (long)await Db.HashGetAsync(keys.Stats, "unfinished_bytes"));

        // claim: off the queue, working, attempt 1, under a lease (token in the record, deadline in the leases zset);
        // no token left
        var claimed = Assert.Single(await queue.ClaimAsync("w1", 10));
        Assert.Equal(id, claimed.Id);
        Assert.Equal("""{"a":[1,2]}""", claimed.Data);
        Assert.Equal(0, await Db.SortedSetLengthAsync(keys.Ready));
        Assert.Equal(0, await Db.ListLengthAsync(keys.Signal));
        var working = await queue.GetAsync(id);
        Assert.Equal(JobStatus.Working, working!.Record.Status);
        Assert.Equal("w1", working.Record.Worker);
        Assert.Equal(1, working.Record.Attempts);
        Assert.Equal(claimed.Lease.Token, working.Record.Lease);
        Assert.NotNull(working.Record.StartedAt);
        Assert.Equal(working.Record.StartedAt + (long)new QueueOptions().LeaseTtl.TotalMilliseconds, working.LeaseExpiresAt);
        Assert.Equal(working.LeaseExpiresAt, (long?)await Db.SortedSetScoreAsync(keys.Leases, id));

        // complete: result stored, payload and lease gone, TTL running, the payload budget given back
        Assert.Equal(QueueOutcome.Worked, await queue.CompleteAsync(claimed.Lease, """{"a":[1,2]}"""));
        var worked = await queue.GetAsync(id);
        Assert.Equal(JobStatus.Worked, worked!.Record.Status);
        Assert.Equal("""{"a":[1,2]}""", worked.Result);
        Assert.NotNull(worked.Record.FinishedAt);
        Assert.Null(worked.Record.Lease);
        Assert.Null(worked.LeaseExpiresAt);
        Assert.Equal(0, await Db.SortedSetLengthAsync(keys.Leases));
        Assert.False(await Db.HashExistsAsync(keys.Payloads, id));
        Assert.Equal(0, (long)await Db.HashGetAsync(keys.Stats, "unfinished_bytes"));
        Assert.Equal(worked.Record.FinishedAt + 30_000, (long?)await Db.SortedSetScoreAsync(keys.Expiry, id));

        // a second completion under the same lease changes nothing
        Assert.Equal(QueueOutcome.Stale, await queue.CompleteAsync(claimed.Lease, "\"other\""));
        Assert.Equal("""{"a":[1,2]}""", (await queue.GetAsync(id))!.Result);
    }

    [Fact]
    public async Task A_finished_job_reads_as_gone_once_its_ttl_passes_and_the_purge_deletes_it()
    {
        var queue = redis.NewSpace(new QueueOptions { ResultTtl = TimeSpan.FromSeconds(1) }).Queue;
        var id = await queue.SubmitAsync();
        var claimed = Assert.Single(await queue.ClaimAsync("w1", 1));
        await queue.CompleteAsync(claimed.Lease, "1");
        Assert.NotNull(await queue.GetAsync(id));

        await Task.Delay(TimeSpan.FromSeconds(1.2));

        Assert.Null(await queue.GetAsync(id));
        Assert.True(await Db.HashExistsAsync(queue.Keys.Jobs, id), "unpurged until the purge runs");
        Assert.Equal(1, await queue.PurgeExpiredAsync());
        Assert.False(await Db.HashExistsAsync(queue.Keys.Jobs, id));
        Assert.False(await Db.HashExistsAsync(queue.Keys.Results, id));
        Assert.Equal(0, await Db.SortedSetLengthAsync(queue.Keys.Expiry));
    }

    [Fact]
    public async Task Jobs_are_claimed_in_the_order_they_were_submitted()
    {
        var queue = redis.NewSpace().Queue;
        var ids = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            ids.Add(await queue.SubmitAsync(i.ToString()));
        }

        IReadOnlyList<ClaimedJob> claimed = await queue.ClaimAsync("w1", 3);
        claimed = [.. claimed, .. await queue.ClaimAsync("w1", 3)];

        Assert.Equal(ids, claimed.Select(j => j.Id));
    }

    [Fact]
    public async Task An_idle_worker_waiting_on_the_signal_wakes_when_work_arrives()
    {
        var queue = redis.NewSpace().Queue;
        await using var signal = redis.NewSignal(queue);

        var wait = signal.WaitAsync(CancellationToken.None);
        await Task.Delay(200);
        Assert.False(wait.IsCompleted);
        await queue.SubmitAsync();

        Assert.True(await wait.WaitAsync(TimeSpan.FromSeconds(4)));
        Assert.Single(await queue.ClaimAsync("w1", 16));
    }

    [Fact]
    public void Job_ids_are_unguessable_and_url_safe()
    {
        var ids = Enumerable.Range(0, 10_000).Select(_ => JobId.New()).ToArray();

        Assert.Equal(ids.Length, ids.Distinct().Count());
        Assert.All(ids, id => Assert.True(JobId.IsWellFormed(id) && Uri.EscapeDataString(id) == id));
        Assert.Equal(16, System.Buffers.Text.Base64Url.DecodeFromChars(ids[0]).Length); // 128 random bits
        Assert.False(JobId.IsWellFormed("abc"));
        Assert.False(JobId.IsWellFormed(new string('a', 21) + "/"));
    }

    [Fact]
    public async Task A_claim_over_its_reply_budget_leaves_the_rest_at_the_head_in_order()
    {
        var queue = redis.NewSpace().Queue;
        // Three jobs of 0.6 MiB: a claim of three takes the first (the first always comes) and stops at the budget.
        var big = "\"" + new string('x', 600 * 1024) + "\"";
        var ids = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            ids.Add(await queue.SubmitAsync(big));
        }
        var small = await queue.SubmitAsync("1");

        var first = await queue.ClaimAsync("worker-1", 3);
        Assert.Equal([ids[0]], first.Select(j => j.Id));
        Assert.Equal(3, await Db.SortedSetLengthAsync(queue.Keys.Ready));
        var second = await queue.ClaimAsync("worker-1", 3);
        Assert.Equal([ids[1]], second.Select(j => j.Id));
        var third = await queue.ClaimAsync("worker-1", 3);
        Assert.Equal([ids[2], small], third.Select(j => j.Id)); // 0.6 MiB and 1 byte fit
        Assert.Equal(big, third[0].Data);
    }
}
