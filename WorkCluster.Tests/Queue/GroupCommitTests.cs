using StackExchange.Redis;
using WorkCluster.Queue;
using WorkCluster.Redis;

namespace WorkCluster.Tests.Queue;

/// <summary>
/// Group commit: concurrent submissions and completions share script calls, and each is handled in its call exactly
/// as if it came alone (its own outcome, the budget and Idempotency-Keys applied in turn).
/// </summary>
[Collection(RedisCollection.Name)]
public sealed class GroupCommitTests(RedisServerFixture redis)
{
    private const int Jobs = 400;

    [Fact]
    public async Task Concurrent_submissions_and_completions_share_script_calls_and_each_gets_its_own_outcome()
    {
        // A connection of this test's own, so that its command count is this test's alone.
        await using var connection = await redis.Server.ConnectAsync();
        var queue = NewQueue(connection, new QueueOptions { MaxBatch = 50 });

        var before = connection.OperationCount;
        var submitted = await Task.WhenAll(Enumerable.Range(0, Jobs).Select(i => queue.EnqueueAsync("echo", $"{{\"n\":{i}}}", "api-test")));
        var submitCalls = connection.OperationCount - before;

        Assert.All(submitted, s => Assert.Equal(QueueOutcome.Created, s.Outcome));
        Assert.Equal(Jobs, submitted.Select(s => s.Id).Distinct().Count());
        // 400 submissions made at once leave in batches of at most 50: at least 8 calls, far fewer than 400.
        Assert.InRange(submitCalls, Jobs / 50, Jobs / 4);

        var claimed = new List<ClaimedJob>();
        while (claimed.Count < Jobs)
        {
            var batch = await queue.ClaimAsync("worker-1", 100);
            Assert.NotEmpty(batch);
            claimed.AddRange(batch);
        }
        // Each job's data came back to it: no submission got another's data or id.
        var dataOf = submitted.Select((s, i) => (s.Id!, i)).ToDictionary(x => x.Item1, x => $"{{\"n\":{x.i}}}");
        Assert.All(claimed, job => Assert.Equal(dataOf[job.Id], job.Data));

        // One completion in the middle is stale (another attempt's token): only it is refused.
        var stale = claimed[Jobs / 2];
        before = connection.OperationCount;
        var outcomes = await Task.WhenAll(claimed.Select(job => job == stale
            ? queue.CompleteAsync(job.Lease with { Token = job.Lease.Token + "-old" }, "0")
            : queue.CompleteAsync(job.Lease, $"\"{job.Id}\"")));
        var completeCalls = connection.OperationCount - before;

        Assert.InRange(completeCalls, Jobs / 50, Jobs / 4);
        for (var i = 0; i < claimed.Count; i++)
        {
            Assert.Equal(claimed[i] == stale ? QueueOutcome.Stale : QueueOutcome.Worked, outcomes[i]);
        }
        foreach (var job in claimed.Where(j => j != stale).Take(20))
        {
            var view = (await queue.GetAsync(job.Id))!;
            Assert.Equal(JobStatus.Worked, view.Record.Status);
            Assert.Equal($"\"{job.Id}\"", view.Result); // its own result, not a neighbour's
        }
        Assert.Equal(JobStatus.Working, (await queue.GetAsync(stale.Id))!.Record.Status);
        Assert.Equal(Jobs - 1, (await queue.GetStatsAsync()).Worked);
    }

    [Fact]
    public async Task Submissions_in_one_call_meet_the_budget_and_Idempotency_Keys_in_turn()
    {
        await using var connection = await redis.Server.ConnectAsync();
        var queue = NewQueue(connection, new QueueOptions { MaxBatch = 1000, MaxQueueLength = 100 });

        // 300 at once: 150 with distinct data, and 150 that all use one Idempotency-Key with the same request.
        var results = await Task.WhenAll(Enumerable.Range(0, 300).Select(i => i % 2 == 0
            ? queue.EnqueueAsync("echo", $"{i}", "api-test")
            : queue.EnqueueAsync("echo", "\"same\"", "api-test", new JobOptions { IdempotencyKey = "one-key", Fingerprint = "f1" })));

        var created = results.Where(r => r.Outcome == QueueOutcome.Created).ToArray();
        var keyed = results.Where((_, i) => i % 2 == 1).ToArray();
        // The key made exactly one job; every other use of it was a replay of that job (none was refused: a replay needs no room).
        var keyJob = Assert.Single(keyed, r => r.Outcome == QueueOutcome.Created).Id;
        Assert.All(keyed.Where(r => r.Outcome != QueueOutcome.Created), r =>
        {
            Assert.Equal(QueueOutcome.Replayed, r.Outcome);
            Assert.Equal(keyJob, r.Id);
        });
        // The budget of 100 unfinished jobs held: exactly 100 created, the rest of the distinct ones refused as full.
        Assert.Equal(100, created.Length);
        Assert.Equal(300 - 100 - (keyed.Length - 1), results.Count(r => r.Outcome == QueueOutcome.QueueFull));
        Assert.Equal(100, (await queue.GetStatsAsync()).Depth);
    }

    [Fact]
    public async Task A_call_that_fails_fails_every_submission_in_it_and_the_next_ones_go_through()
    {
        await using var connection = await redis.Server.ConnectAsync();
        var queue = NewQueue(connection, new QueueOptions { MaxBatch = 100 });
        var keys = queue.Keys;
        // The jobs hash made a string: every enqueue script call fails with WRONGTYPE, for all its submissions.
        await connection.GetDatabase().StringSetAsync(keys.Jobs, "not a hash");
        var attempts = Enumerable.Range(0, 50).Select(i => queue.EnqueueAsync("echo", $"{i}", "api-test")).ToArray();
        foreach (var attempt in attempts)
        {
            var error = await Assert.ThrowsAsync<RedisServerException>(() => attempt);
            Assert.Contains("WRONGTYPE", error.Message);
        }
        await connection.GetDatabase().KeyDeleteAsync(keys.Jobs);
        var after = await Task.WhenAll(Enumerable.Range(0, 50).Select(i => queue.EnqueueAsync("echo", $"{i}", "api-test")));
        Assert.All(after, r => Assert.Equal(QueueOutcome.Created, r.Outcome));
    }

    [Fact]
    public async Task Submissions_made_at_once_are_claimed_in_the_order_they_were_made_keyed_or_not()
    {
        await using var connection = await redis.Server.ConnectAsync();
        var queue = NewQueue(connection, new QueueOptions { MaxBatch = 100 });
        // Every third with an Idempotency-Key (written at once inside its batch), the others collected and written last.
        var results = await Task.WhenAll(Enumerable.Range(0, 60).Select(i => queue.EnqueueAsync("echo", $"{i}", "api-test",
            i % 3 == 1 ? new JobOptions { IdempotencyKey = $"key-{i}", Fingerprint = "f" } : null)));
        var claimed = await queue.ClaimAsync("worker-1", 100);
        Assert.Equal(results.Select(r => r.Id), claimed.Select(j => j.Id));
    }

    [Fact]
    public async Task A_claim_takes_at_most_a_thousand_jobs_and_leaves_the_rest_ready()
    {
        await using var connection = await redis.Server.ConnectAsync();
        var queue = NewQueue(connection, new QueueOptions());
        await Task.WhenAll(Enumerable.Range(0, 1200).Select(i => queue.EnqueueAsync("echo", "1", "api-test")));

        var claimed = await queue.ClaimAsync("worker-1", 5000);

        Assert.Equal(WorkQueue.MaxClaim, claimed.Count);
        Assert.Equal(200, await connection.GetDatabase().SortedSetLengthAsync(queue.Keys.Ready));
        Assert.Equal(200, (await queue.ClaimAsync("worker-1", 5000)).Count);
    }

    [Fact]
    public async Task A_call_kept_waiting_past_its_limit_by_a_slow_batch_fails_unsent()
    {
        var firstBatch = new TaskCompletionSource<int[]>();
        var sent = new List<int[]>();
        var commit = new GroupCommit<int, int>(batch =>
        {
            sent.Add([.. batch]);
            return sent.Count == 1 ? firstBatch.Task : Task.FromResult(batch.ToArray());
        }, _ => 0, maxBatch: 10, maxBytes: int.MaxValue, maxInFlight: 1, maxWait: TimeSpan.FromMilliseconds(100));

        var first = commit.RunAsync(1);   // sent at once; its answer is held back
        var second = commit.RunAsync(2);  // waits for the first
        await Task.Delay(300);
        firstBatch.SetResult([1]);

        Assert.Equal(1, await first);
        await Assert.ThrowsAsync<RedisTimeoutException>(() => second);
        Assert.Equal([[1]], sent); // the second was never sent
        Assert.Equal(3, await commit.RunAsync(3)); // and the next call goes through
    }

    private WorkQueue NewQueue(IConnectionMultiplexer connection, QueueOptions options) =>
        new(connection, new QueueScripts(), new QueueKeys(new RedisKeyspace("t" + Guid.NewGuid().ToString("N")[..12])),
            Microsoft.Extensions.Options.Options.Create(options), redis.Telemetry, redis.Commit);
}
