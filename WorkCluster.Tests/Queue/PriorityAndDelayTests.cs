using StackExchange.Redis;
using WorkCluster.Queue;

namespace WorkCluster.Tests.Queue;

/// <summary>When and how urgently jobs run: priorities (with aging, so none starves) and delayed jobs.</summary>
[Collection(RedisCollection.Name)]
public sealed class PriorityAndDelayTests(RedisServerFixture redis)
{
    private IDatabase Db => redis.Connection.GetDatabase();

    [Fact]
    public async Task A_thousand_jobs_over_ten_priorities_are_claimed_highest_first_and_first_in_first_out_within_each()
    {
        var queue = redis.NewSpace().Queue;
        await queue.PauseAsync();
        var submitted = new List<(string Id, int Priority, int Index)>();
        for (var i = 0; i < 1000; i++)
        {
            var priority = (i * 7) % 10; // interleaved
            var result = await queue.EnqueueAsync("echo", i.ToString(), "api-test", new JobOptions { Priority = priority });
            submitted.Add((result.Id!, priority, i));
        }
        Assert.Empty(await queue.ClaimAsync("w1", 16)); // paused

        await queue.ResumeAsync();
        var claimed = new List<string>();
        while (await queue.ClaimAsync("w1", 16) is { Count: > 0 } batch)
        {
            claimed.AddRange(batch.Select(j => j.Id));
        }

        var expected = submitted.OrderByDescending(s => s.Priority).ThenBy(s => s.Index).Select(s => s.Id);
        Assert.Equal(expected, claimed);

        // Each record reads back with the priority it was given, the default (5, left out of the record) included.
        foreach (var (id, priority, _) in submitted.Where(s => s.Index < 10))
        {
            Assert.Equal(priority, (await queue.GetAsync(id))!.Record.Priority);
        }
        var unset = (await queue.EnqueueAsync("echo", "1", "api-test")).Id!;
        Assert.Equal(JobOptions.DefaultPriority, (await queue.GetAsync(unset))!.Record.Priority);
    }

    [Fact]
    public async Task A_low_priority_job_waits_no_longer_than_nine_agings_behind_the_highest_priority()
    {
        var aging = TimeSpan.FromMilliseconds(100);
        var queue = redis.NewSpace(new QueueOptions { PriorityAging = aging }).Queue;
        await queue.PauseAsync();
        var low = (await queue.EnqueueAsync("echo", "\"low\"", "api-test", new JobOptions { Priority = 0 })).Id!;
        // Sustained high-priority load: a priority-9 job every 50 ms for 1.5 s.
        var high = new List<string>();
        for (var i = 0; i < 30; i++)
        {
            high.Add((await queue.EnqueueAsync("echo", i.ToString(), "api-test", new JobOptions { Priority = 9 })).Id!);
            await Task.Delay(50);
        }
        await queue.ResumeAsync();
        var order = new List<string>();
        while (await queue.ClaimAsync("w1", 4) is { Count: > 0 } batch)
        {
            order.AddRange(batch.Select(j => j.Id));
        }

        // The low job goes after every priority-9 job that was ready up to 9 agings after it, and before every later one.
        var lowCreated = (await queue.GetAsync(low))!.Record.CreatedAt;
        var bound = lowCreated + 9 * (long)aging.TotalMilliseconds;
        var position = order.IndexOf(low);
        foreach (var id in high)
        {
            var created = (await queue.GetAsync(id))!.Record.CreatedAt;
            if (created < bound)
            {
                Assert.True(order.IndexOf(id) < position, $"a priority-9 job ready {created - lowCreated} ms after the low one went after it");
            }
            else if (created > bound)
            {
                Assert.True(order.IndexOf(id) > position, $"the low job still waited behind a priority-9 job ready {created - lowCreated} ms after it");
            }
        }
        Assert.InRange(position, 1, high.Count - 1); // neither first nor starved to the end
    }

    [Fact]
    public async Task A_delayed_job_is_scheduled_until_its_time_on_the_redis_clock_then_claimed()
    {
        var queue = redis.NewSpace().Queue;
        var delayed = (await queue.EnqueueAsync("echo", "1", "api-test", new JobOptions { Delay = TimeSpan.FromMilliseconds(600) })).Id!;
        var now = (await queue.EnqueueAsync("echo", "2", "api-test")).Id!;
        var past = (await queue.EnqueueAsync("echo", "3", "api-test", new JobOptions { RunAt = DateTimeOffset.UtcNow.AddHours(-1) })).Id!;

        var record = (await queue.GetAsync(delayed))!.Record;
        Assert.Equal(JobStatus.Scheduled, record.Status);
        Assert.Equal(record.CreatedAt + 600, record.RunAt);
        Assert.Equal(1, await Db.SortedSetLengthAsync(queue.Keys.Scheduled));
        var first = await queue.ClaimAsync("w1", 16);
        Assert.Equal([now, past], first.Select(j => j.Id)); // a time in the past is no delay
        Assert.InRange(first.NextDueIn!.Value.TotalMilliseconds, 1, 600); // what an idle worker waits for

        await Task.Delay(first.NextDueIn.Value + TimeSpan.FromMilliseconds(20));
        var due = Assert.Single(await queue.ClaimAsync("w1", 16)); // the claim itself makes it ready
        Assert.Equal(delayed, due.Id);
        Assert.True(due.Record.StartedAt >= record.RunAt, $"claimed {record.RunAt - due.Record.StartedAt} ms before its time");
        Assert.Null((await queue.ClaimAsync("w1", 1)).NextDueIn);
    }

    [Fact]
    public async Task A_job_due_further_ahead_than_the_longest_delay_is_refused_and_nothing_written()
    {
        var queue = redis.NewSpace(new QueueOptions { MaxDelay = TimeSpan.FromMinutes(1) }).Queue;

        var refused = await queue.EnqueueAsync("echo", "1", "api-test", new JobOptions { Delay = TimeSpan.FromMinutes(2) });
        var accepted = await queue.EnqueueAsync("echo", "1", "api-test", new JobOptions { RunAt = DateTimeOffset.UtcNow.AddSeconds(30) });

        Assert.Equal(QueueOutcome.TooFarAhead, refused.Outcome);
        Assert.Equal(QueueOutcome.Created, accepted.Outcome);
        Assert.Equal(1, await Db.HashLengthAsync(queue.Keys.Jobs));
    }

    [Fact]
    public async Task A_job_handed_back_returns_to_its_place_not_the_end_of_the_line()
    {
        var queue = redis.NewSpace().Queue;
        var first = await queue.SubmitAsync("1");
        var claimed = Assert.Single(await queue.ClaimAsync("stopping", 1));
        var second = await queue.SubmitAsync("2");
        var urgent = (await queue.EnqueueAsync("echo", "3", "api-test", new JobOptions { Priority = 9 })).Id!;

        Assert.Equal(QueueOutcome.Released, await queue.ReleaseAsync(claimed.Lease));

        Assert.Equal([urgent, first, second], (await queue.ClaimAsync("other", 3)).Select(j => j.Id));
    }

    [Fact]
    public async Task A_retried_job_taken_back_returns_to_where_its_retry_fell_due_not_to_its_first_submission()
    {
        var queue = redis.NewSpace(new QueueOptions { LeaseTtl = TimeSpan.FromMilliseconds(300), LeaseOutageGrace = TimeSpan.Zero,
            RetryBaseDelay = TimeSpan.Zero }).Queue;
        var retried = await queue.SubmitAsync("1");
        var first = Assert.Single(await queue.ClaimAsync("w1", 1));
        await Task.Delay(100);
        var later = await queue.SubmitAsync("2"); // same priority, submitted after the first but before its retry
        await Task.Delay(100);
        Assert.Equal(QueueOutcome.RetryScheduled, await queue.FailAsync(first.Lease, 1, "once"));
        await queue.PromoteDueAsync();

        // The retry fell due after `later` was submitted: it goes after it. Claimed, then its lease lapses and the sweep
        // takes it back: still after it, not back at its first submission's place.
        Assert.Equal([later, retried], await ClaimOrderAsync(queue, takeBackFirst: retried));
    }

    private static async Task<IReadOnlyList<string>> ClaimOrderAsync(WorkQueue queue, string takeBackFirst)
    {
        // Take `takeBackFirst` alone (everything ahead of it is claimed and handed back), let its lease lapse, sweep.
        var ahead = new List<ClaimedJob>();
        while (await queue.ClaimAsync("w2", 1) is [var job])
        {
            if (job.Id == takeBackFirst)
            {
                break;
            }
            ahead.Add(job);
        }
        foreach (var job in ahead)
        {
            Assert.Equal(QueueOutcome.Released, await queue.ReleaseAsync(job.Lease));
        }
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while ((await queue.SweepExpiredLeasesAsync()).Requeued == 0)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), "the lease was never taken back");
            await Task.Delay(50);
        }
        var order = new List<string>();
        while (await queue.ClaimAsync("w3", 10) is { Count: > 0 } batch)
        {
            order.AddRange(batch.Select(j => j.Id));
        }
        return order;
    }
}
