using StackExchange.Redis;
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
        var claimed = Assert.Single(await queue.ClaimAsync("w1", 1));

        Assert.Equal(QueueOutcome.RetryScheduled, await queue.FailAsync(claimed.Lease, 1, "IOException: disk full"));

        var waiting = (await queue.GetAsync(id))!.Record;
        Assert.Equal(JobStatus.Pending, waiting.Status);
        Assert.Equal(1, waiting.Attempts);
        Assert.Equal("IOException: disk full", waiting.LastError);
        Assert.NotNull(waiting.RetryAt);
        Assert.Null(waiting.Lease);
        Assert.Equal(0, await Db.SortedSetLengthAsync(queue.Keys.Ready));
        Assert.Equal(0, await Db.SortedSetLengthAsync(queue.Keys.Leases));
        Assert.Equal(waiting.RetryAt, (long?)await Db.SortedSetScoreAsync(queue.Keys.Scheduled, id));

        // Not due yet: promotion moves nothing. Once due, it joins the queue and a claim counts attempt 2.
        if (waiting.RetryAt > DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() + 50)
        {
            Assert.Equal(0, await queue.PromoteDueAsync());
        }
        await Task.Delay(TimeSpan.FromMilliseconds(350));
        Assert.Equal(1, await queue.PromoteDueAsync());
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
            await queue.PromoteDueAsync();
            var claimed = Assert.Single(await queue.ClaimAsync("w1", 1));
            Assert.Equal(attempt, claimed.Record.Attempts);
            var outcome = await queue.FailAsync(claimed.Lease, attempt, $"boom {attempt}");
            Assert.Equal(attempt < 2 ? QueueOutcome.RetryScheduled : QueueOutcome.DeadLettered, outcome);
        }

        var failed = (await queue.GetAsync(id))!.Record;
        Assert.Equal(JobStatus.Failed, failed.Status);
        Assert.Equal("boom 2", failed.LastError);
        var page = await queue.GetFailedAsync(0, 10);
        Assert.Equal(1, page.Total);
        Assert.Equal(id, Assert.Single(page.Jobs).Id);

        Assert.Equal(QueueOutcome.Queued, await queue.RetryFailedAsync(id));

        Assert.Equal(0, (await queue.GetFailedAsync(0, 10)).Total);
        Assert.Null(await Db.SortedSetScoreAsync(queue.Keys.Expiry, id));
        var again = Assert.Single(await queue.ClaimAsync("w1", 1));
        Assert.Equal(1, again.Record.Attempts);
        Assert.Equal("\"payload\"", again.Data); // the payload was kept for the retry
        Assert.Equal(QueueOutcome.NotFailed, await queue.RetryFailedAsync(id));
        Assert.Equal(QueueOutcome.NotFound, await queue.RetryFailedAsync(JobId.New()));
    }

    [Fact]
    public async Task The_dead_letter_lists_newest_first_in_pages()
    {
        var queue = redis.NewSpace(new QueueOptions { MaxAttempts = 1 }).Queue;
        var ids = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            var id = await queue.SubmitAsync();
            var claimed = Assert.Single(await queue.ClaimAsync("w1", 1));
            await queue.FailAsync(claimed.Lease, 1, "boom");
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
    public async Task A_released_job_goes_back_to_the_head_without_counting_the_attempt()
    {
        var queue = redis.NewSpace().Queue;
        var first = await queue.SubmitAsync("1");
        var second = await queue.SubmitAsync("2");
        var claimed = Assert.Single(await queue.ClaimAsync("stopping", 1));

        Assert.Equal(QueueOutcome.Released, await queue.ReleaseAsync(claimed.Lease));
        Assert.Equal(QueueOutcome.Stale, await queue.ReleaseAsync(claimed.Lease));

        var job = (await queue.GetAsync(first))!.Record;
        Assert.Equal(JobStatus.Pending, job.Status);
        Assert.Equal(0, job.Attempts);
        Assert.Null(job.Worker);
        Assert.Null(job.Lease);
        Assert.Equal(0, await Db.SortedSetLengthAsync(queue.Keys.Leases));
        Assert.Equal([first, second], (await queue.ClaimAsync("other", 2)).Select(j => j.Id));
    }

    [Fact]
    public async Task The_same_idempotency_key_and_request_returns_the_first_job_and_queues_nothing()
    {
        var queue = redis.NewSpace().Queue;
        var first = await queue.EnqueueAsync("echo", "1", "api-a", new JobOptions { IdempotencyKey = "order-42", Fingerprint = "f1" });

        var replay = await queue.EnqueueAsync("echo", "1", "api-b", new JobOptions { IdempotencyKey = "order-42", Fingerprint = "f1" });
        var conflict = await queue.EnqueueAsync("echo", "2", "api-b", new JobOptions { IdempotencyKey = "order-42", Fingerprint = "f2" });

        Assert.Equal(QueueOutcome.Created, first.Outcome);
        Assert.Equal(new EnqueueResult(QueueOutcome.Replayed, first.Id, "api-a"), replay);
        Assert.Equal(QueueOutcome.KeyConflict, conflict.Outcome);
        Assert.Equal(1, await Db.SortedSetLengthAsync(queue.Keys.Ready));
        Assert.Equal(1, await Db.HashLengthAsync(queue.Keys.Jobs));
    }

    [Fact]
    public async Task Concurrent_submissions_with_one_idempotency_key_create_exactly_one_job()
    {
        var queue = redis.NewSpace().Queue;

        var results = await Task.WhenAll(Enumerable.Range(0, 50).Select(_ =>
            Task.Run(() => queue.EnqueueAsync("echo", "1", "api", new JobOptions { IdempotencyKey = "k", Fingerprint = "f" }))));

        Assert.Single(results, r => r.Outcome == QueueOutcome.Created);
        Assert.Single(results.Select(r => r.Id).Distinct());
        Assert.Equal(1, await Db.HashLengthAsync(queue.Keys.Jobs));
    }

    [Fact]
    public async Task An_idempotency_key_is_free_again_once_its_job_has_expired_and_been_purged()
    {
        var queue = redis.NewSpace(new QueueOptions { ResultTtl = TimeSpan.FromSeconds(1) }).Queue;
        var first = await queue.EnqueueAsync("echo", "1", "api", new JobOptions { IdempotencyKey = "k", Fingerprint = "f" });
        var claimed = Assert.Single(await queue.ClaimAsync("w1", 1));
        await queue.CompleteAsync(claimed.Lease, "1");
        await Task.Delay(TimeSpan.FromSeconds(1.2));

        var second = await queue.EnqueueAsync("echo", "1", "api", new JobOptions { IdempotencyKey = "k", Fingerprint = "f" });
        Assert.Equal(QueueOutcome.Created, second.Outcome);
        Assert.NotEqual(first.Id, second.Id);

        // Purging the first job leaves the key to the second.
        Assert.Equal(1, await queue.PurgeExpiredAsync());
        Assert.Equal(QueueOutcome.Replayed, (await queue.EnqueueAsync("echo", "1", "api", new JobOptions { IdempotencyKey = "k", Fingerprint = "f" })).Outcome);
    }
}
