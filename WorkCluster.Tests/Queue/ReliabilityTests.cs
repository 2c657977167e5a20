using StackExchange.Redis;
using WorkCluster.Cluster;
using WorkCluster.Queue;

namespace WorkCluster.Tests.Queue;

/// <summary>The queue's promises when things go wrong, checked on the library against a real redis-server.</summary>
[Collection(RedisCollection.Name)]
public sealed class ReliabilityTests(RedisServerFixture redis)
{
    private IDatabase Db => redis.Connection.GetDatabase();

    [Fact]
    public async Task A_failed_attempt_is_retried_from_the_schedule_after_its_backoff()
    {
        var queue = redis.NewSpace(new QueueOptions { RetryBaseDelay = TimeSpan.FromMilliseconds(300), RetryMaxDelay = TimeSpan.FromMilliseconds(300) }).Queue;
        var id = await queue.SubmitAsync();
        await queue.ClaimAsync("w1", 1);

        Assert.Equal(FailOutcome.RetryScheduled, await queue.FailAsync("w1", id, 1, "IOException: disk full"));

        var waiting = (await queue.GetAsync(id))!.Record;
        Assert.Equal(JobStatus.Pending, waiting.Status);
        Assert.Equal(1, waiting.Attempts);
        Assert.Equal("IOException: disk full", waiting.LastError);
        Assert.NotNull(waiting.RetryAt);
        Assert.Equal(0, await Db.ListLengthAsync(queue.Keys.Queue));
        Assert.Equal(0, await Db.ListLengthAsync(queue.Keys.Processing("w1")));
        Assert.Equal(waiting.RetryAt, (long?)await Db.SortedSetScoreAsync(queue.Keys.Scheduled, id));

        // Not due yet: promotion moves nothing. Once due, it joins the queue and a claim counts attempt 2.
        if (waiting.RetryAt > DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() + 50)
        {
            Assert.Equal(0, await queue.PromoteDueRetriesAsync());
        }
        await Task.Delay(TimeSpan.FromMilliseconds(350));
        Assert.Equal(1, await queue.PromoteDueRetriesAsync());
        Assert.Equal(0, await Db.SortedSetLengthAsync(queue.Keys.Scheduled));
        var retry = Assert.Single(await queue.ClaimAsync("w2", 1));
        Assert.Equal(2, retry.Record.Attempts);
        Assert.Null(retry.Record.RetryAt);
    }

    [Fact]
    public async Task After_the_last_attempt_a_job_is_dead_lettered_and_a_retry_requeues_it_with_attempts_reset()
    {
        var queue = redis.NewSpace(new QueueOptions { MaxAttempts = 2, RetryBaseDelay = TimeSpan.Zero }).Queue;
        var id = await queue.SubmitAsync("\"payload\"");

        for (var attempt = 1; attempt <= 2; attempt++)
        {
            await queue.PromoteDueRetriesAsync();
            var claimed = Assert.Single(await queue.ClaimAsync("w1", 1));
            Assert.Equal(attempt, claimed.Record.Attempts);
            var outcome = await queue.FailAsync("w1", id, attempt, $"boom {attempt}");
            Assert.Equal(attempt < 2 ? FailOutcome.RetryScheduled : FailOutcome.DeadLettered, outcome);
        }

        var failed = (await queue.GetAsync(id))!.Record;
        Assert.Equal(JobStatus.Failed, failed.Status);
        Assert.Equal("boom 2", failed.LastError);
        var page = await queue.GetFailedAsync(0, 10);
        Assert.Equal(1, page.Total);
        Assert.Equal(id, Assert.Single(page.Jobs).Id);

        Assert.Equal(RetryOutcome.Queued, await queue.RetryFailedAsync(id));

        Assert.Equal(0, (await queue.GetFailedAsync(0, 10)).Total);
        Assert.Null(await Db.SortedSetScoreAsync(queue.Keys.Expiry, id));
        var again = Assert.Single(await queue.ClaimAsync("w1", 1));
        Assert.Equal(1, again.Record.Attempts);
        Assert.Equal("\"payload\"", again.Data); // the payload was kept for the retry
        Assert.Equal(RetryOutcome.NotFailed, await queue.RetryFailedAsync(id));
        Assert.Equal(RetryOutcome.NotFound, await queue.RetryFailedAsync(JobId.New()));
    }

    [Fact]
    public async Task The_dead_letter_lists_newest_first_in_pages()
    {
        var queue = redis.NewSpace(new QueueOptions { MaxAttempts = 1 }).Queue;
        var ids = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            var id = await queue.SubmitAsync();
            await queue.ClaimAsync("w1", 1);
            await queue.FailAsync("w1", id, 1, "boom");
            ids.Add(id);
            await Task.Delay(5); // distinct failure times
        }

        var first = await queue.GetFailedAsync(0, 2);
        var second = await queue.GetFailedAsync(2, 2);
        var third = await queue.GetFailedAsync(4, 2);

        Assert.Equal(5, first.Total);
        Assert.Equal(Enumerable.Reverse(ids), first.Jobs.Concat(second.Jobs).Concat(third.Jobs).Select(j => j.Id));
    }

    [Fact]
    public async Task A_dead_workers_jobs_go_back_to_the_head_of_the_queue_once_and_only_once()
    {
        var space = redis.NewSpace(cluster: new ClusterOptions { HeartbeatTtl = TimeSpan.FromMilliseconds(400) });
        var (queue, registry) = (space.Queue, space.Registry);
        var first = await queue.SubmitAsync("1");
        var second = await queue.SubmitAsync("2");
        var third = await queue.SubmitAsync("3");
        await registry.HeartbeatAsync(Node("dying"));
        await queue.ClaimAsync("dying", 2); // first, second
        var livenessKey = registry.Keys.Node("dying");

        // Alive: nothing may be taken from it, however long its jobs run.
        Assert.True((await queue.RecoverAsync("dying", livenessKey)).WorkerAlive);
        Assert.Equal(2, await Db.ListLengthAsync(queue.Keys.Processing("dying")));

        await Task.Delay(TimeSpan.FromMilliseconds(500)); // no heartbeat: the liveness key expires
        Assert.Equal(["dying"], await registry.GetDeadAsync());
        var recovered = await queue.RecoverAsync("dying", livenessKey);
        var again = await queue.RecoverAsync("dying", livenessKey); // a second sweeper

        Assert.Equal(new RecoveryResult(false, 2, 0), recovered);
        Assert.Equal(new RecoveryResult(false, 0, 0), again);
        Assert.Equal(0, await Db.ListLengthAsync(queue.Keys.Processing("dying")));
        var next = await queue.ClaimAsync("survivor", 3);
        Assert.Equal([first, second, third], next.Select(j => j.Id)); // the recovered ones first, in claim order
        Assert.Equal([2, 2, 1], next.Select(j => j.Record.Attempts));
        Assert.True(await registry.ForgetAsync("dying"));
        Assert.Empty(await registry.GetDeadAsync());
    }

    [Fact]
    public async Task A_worker_the_cluster_cannot_see_claims_nothing_until_its_heartbeat_is_back()
    {
        var space = redis.NewSpace();
        var (queue, registry) = (space.Queue, space.Registry);
        var id = await queue.SubmitAsync();
        var livenessKey = registry.Keys.Node("cut-off");

        // Presumed dead (never registered, or swept and forgotten): a job on its list would be invisible to recovery.
        Assert.Null(await queue.ClaimAsync("cut-off", 1, livenessKey));
        Assert.Equal(1, await Db.ListLengthAsync(queue.Keys.Queue));
        Assert.Equal(0, await Db.ListLengthAsync(queue.Keys.Processing("cut-off")));
        Assert.Equal(JobStatus.Pending, (await queue.GetAsync(id))!.Record.Status);

        await registry.HeartbeatAsync(Node("cut-off"));
        var claimed = Assert.Single((await queue.ClaimAsync("cut-off", 1, livenessKey))!);
        Assert.Equal(id, claimed.Id);
        Assert.Equal(["cut-off"], (await registry.GetMembersAsync()).Select(m => m.Id)); // so a sweeper can find its list
    }

    [Fact]
    public async Task A_job_that_kills_every_worker_that_runs_it_fails_after_max_attempts()
    {
        var space = redis.NewSpace(new QueueOptions { MaxAttempts = 2 }, new ClusterOptions { HeartbeatTtl = TimeSpan.FromMilliseconds(300) });
        var id = await space.Queue.SubmitAsync();

        for (var attempt = 1; attempt <= 2; attempt++)
        {
            var worker = $"victim-{attempt}";
            await space.Registry.HeartbeatAsync(Node(worker));
            Assert.Single(await space.Queue.ClaimAsync(worker, 1));
            await Task.Delay(TimeSpan.FromMilliseconds(400));
            var result = await space.Queue.RecoverAsync(worker, space.Registry.Keys.Node(worker));
            Assert.Equal(attempt < 2 ? new RecoveryResult(false, 1, 0) : new RecoveryResult(false, 0, 1), result);
        }

        var job = (await space.Queue.GetAsync(id))!.Record;
        Assert.Equal(JobStatus.Failed, job.Status);
        Assert.Contains("victim-2 stopped during attempt 2", job.LastError);
        Assert.Equal(id, Assert.Single((await space.Queue.GetFailedAsync(0, 10)).Jobs).Id);
    }

    [Fact]
    public async Task A_released_job_goes_back_to_the_head_without_counting_the_attempt()
    {
        var queue = redis.NewSpace().Queue;
        var first = await queue.SubmitAsync("1");
        var second = await queue.SubmitAsync("2");
        Assert.Single(await queue.ClaimAsync("stopping", 1));

        Assert.True(await queue.ReleaseAsync("stopping", first));
        Assert.False(await queue.ReleaseAsync("stopping", first));

        var job = (await queue.GetAsync(first))!.Record;
        Assert.Equal(JobStatus.Pending, job.Status);
        Assert.Equal(0, job.Attempts);
        Assert.Null(job.Worker);
        Assert.Equal([first, second], (await queue.ClaimAsync("other", 2)).Select(j => j.Id));
    }

    [Fact]
    public async Task A_late_failure_from_a_worker_presumed_dead_does_not_touch_the_new_run()
    {
        var space = redis.NewSpace(cluster: new ClusterOptions { HeartbeatTtl = TimeSpan.FromMilliseconds(300) });
        var id = await space.Queue.SubmitAsync();
        await space.Registry.HeartbeatAsync(Node("slowpoke"));
        await space.Queue.ClaimAsync("slowpoke", 1);
        await Task.Delay(TimeSpan.FromMilliseconds(400));
        await space.Queue.RecoverAsync("slowpoke", space.Registry.Keys.Node("slowpoke"));
        await space.Queue.ClaimAsync("fresh", 1);

        Assert.Equal(FailOutcome.Stale, await space.Queue.FailAsync("slowpoke", id, 1, "late"));

        var job = (await space.Queue.GetAsync(id))!.Record;
        Assert.Equal(JobStatus.Working, job.Status);
        Assert.Equal("fresh", job.Worker);
    }

    [Fact]
    public async Task The_same_idempotency_key_and_request_returns_the_first_job_and_queues_nothing()
    {
        var queue = redis.NewSpace().Queue;
        var first = await queue.EnqueueAsync("echo", "1", "api-a", idempotencyKey: "order-42", fingerprint: "f1");

        var replay = await queue.EnqueueAsync("echo", "1", "api-b", idempotencyKey: "order-42", fingerprint: "f1");
        var conflict = await queue.EnqueueAsync("echo", "2", "api-b", idempotencyKey: "order-42", fingerprint: "f2");

        Assert.Equal(EnqueueOutcome.Created, first.Outcome);
        Assert.Equal(new EnqueueResult(EnqueueOutcome.Replayed, first.Id, "api-a"), replay);
        Assert.Equal(EnqueueOutcome.KeyConflict, conflict.Outcome);
        Assert.Equal(1, await Db.ListLengthAsync(queue.Keys.Queue));
        Assert.Equal(1, await Db.HashLengthAsync(queue.Keys.Jobs));
    }

    [Fact]
    public async Task Concurrent_submissions_with_one_idempotency_key_create_exactly_one_job()
    {
        var queue = redis.NewSpace().Queue;

        var results = await Task.WhenAll(Enumerable.Range(0, 50).Select(_ =>
            Task.Run(() => queue.EnqueueAsync("echo", "1", "api", idempotencyKey: "k", fingerprint: "f"))));

        Assert.Single(results, r => r.Outcome == EnqueueOutcome.Created);
        Assert.Single(results.Select(r => r.Id).Distinct());
        Assert.Equal(1, await Db.HashLengthAsync(queue.Keys.Jobs));
    }

    [Fact]
    public async Task An_idempotency_key_is_free_again_once_its_job_has_expired_and_been_purged()
    {
        var queue = redis.NewSpace(new QueueOptions { ResultTtl = TimeSpan.FromSeconds(1) }).Queue;
        var first = await queue.EnqueueAsync("echo", "1", "api", idempotencyKey: "k", fingerprint: "f");
        await queue.ClaimAsync("w1", 1);
        await queue.CompleteAsync("w1", first.Id!, "1");
        await Task.Delay(TimeSpan.FromSeconds(1.2));

        var second = await queue.EnqueueAsync("echo", "1", "api", idempotencyKey: "k", fingerprint: "f");
        Assert.Equal(EnqueueOutcome.Created, second.Outcome);
        Assert.NotEqual(first.Id, second.Id);

        // Purging the first job leaves the key to the second.
        Assert.Equal(1, await queue.PurgeExpiredAsync());
        Assert.Equal(EnqueueOutcome.Replayed, (await queue.EnqueueAsync("echo", "1", "api", idempotencyKey: "k", fingerprint: "f")).Outcome);
    }

    [Fact]
    public async Task A_full_queue_refuses_submissions_without_writing_anything()
    {
        var queue = redis.NewSpace(new QueueOptions { MaxQueueLength = 3 }).Queue;
        for (var i = 0; i < 3; i++)
        {
            await queue.SubmitAsync();
        }

        var refused = await queue.EnqueueAsync("echo", "1", "api", idempotencyKey: "k", fingerprint: "f");

        Assert.Equal(new EnqueueResult(EnqueueOutcome.QueueFull, null, null), refused);
        Assert.Equal(3, await Db.ListLengthAsync(queue.Keys.Queue));
        Assert.Equal(3, await Db.HashLengthAsync(queue.Keys.Jobs));
        Assert.Equal(3, await Db.HashLengthAsync(queue.Keys.Payloads));
        Assert.False(await Db.KeyExistsAsync(queue.Keys.Idempotency));
        // Room again once a worker takes one.
        await queue.ClaimAsync("w1", 1);
        Assert.Equal(EnqueueOutcome.Created, (await queue.EnqueueAsync("echo", "1", "api")).Outcome);
    }

    private static NodeInfo Node(string id) => new() { Id = id, Host = "test", Pid = 1 };
}
