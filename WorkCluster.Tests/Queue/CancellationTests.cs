using StackExchange.Redis;
using WorkCluster.Queue;

namespace WorkCluster.Tests.Queue;

/// <summary>
/// Cancelling a job: a waiting one never starts; a running one's worker is told (the renewal reports it too), its
/// attempt's outcome ends it cancelled, and a handler that does not stop loses its lease after the grace.
/// </summary>
[Collection(RedisCollection.Name)]
public sealed class CancellationTests(RedisServerFixture redis)
{
    private static readonly QueueOptions Options = WithLease(TimeSpan.FromSeconds(5));

    /// <summary>Cancelled records kept 3 s: for the test that sees them go (the others keep theirs a minute, so that a slow
    /// machine never loses a record the test still reads).</summary>
    private static readonly QueueOptions ShortTtl = WithLease(TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(3));
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    private static QueueOptions WithLease(TimeSpan leaseTtl, TimeSpan? resultTtl = null) => new()
    {
        LeaseTtl = leaseTtl,
        LeaseOutageGrace = TimeSpan.Zero,
        CancelGraceMs = 200,
        ResultTtl = resultTtl ?? TimeSpan.FromMinutes(1),
    };

    private IDatabase Db => redis.Connection.GetDatabase();

    [Fact]
    public async Task A_pending_job_cancelled_is_never_claimed_its_data_is_freed_and_it_is_listed_until_its_ttl_ends()
    {
        var queue = redis.NewSpace(ShortTtl).Queue;
        var id = await queue.SubmitAsync("\"some data\"");
        var other = await queue.SubmitAsync("2");

        Assert.Equal(new CancelResult(QueueOutcome.Cancelled), await queue.CancelAsync(id));

        var claimed = await queue.ClaimAsync("w1", 10);
        Assert.Equal([other], claimed.Select(j => j.Id));
        var record = (await queue.GetAsync(id))!.Record;
        Assert.Equal(JobStatus.Cancelled, record.Status);
        Assert.Null(record.StartedAt);
        Assert.NotNull(record.FinishedAt);
        Assert.False(await Db.HashExistsAsync(queue.Keys.Payloads, id));
        Assert.Equal(1, (await queue.GetCancelledAsync(0, 10)).Total);
        Assert.Equal(id, Assert.Single((await queue.GetCancelledAsync(0, 10)).Jobs).Id);
        var stats = await queue.GetStatsAsync();
        Assert.Equal(1, stats.Cancelled);
        Assert.Equal(1, stats.UnfinishedBytes); // only the other job's data, 2

        // Cancelling again changes nothing; after the result TTL the record and its listing are gone.
        Assert.Equal(new CancelResult(QueueOutcome.AlreadyFinished, FinishedStatus: "cancelled"), await queue.CancelAsync(id));
        await Task.Delay(ShortTtl.ResultTtl + TimeSpan.FromMilliseconds(100));
        Assert.Null(await queue.GetAsync(id));
        Assert.Equal(new CancelResult(QueueOutcome.NotFound), await queue.CancelAsync(id));
        await queue.PurgeExpiredAsync();
        Assert.Equal(0, (await queue.GetCancelledAsync(0, 10)).Total);
    }

    [Fact]
    public async Task A_delayed_job_cancelled_never_falls_due()
    {
        var queue = redis.NewSpace(Options).Queue;
        var id = (await queue.EnqueueAsync("echo", "1", "api-test", new JobOptions { Delay = TimeSpan.FromMilliseconds(100) })).Id!;

        Assert.Equal(QueueOutcome.Cancelled, (await queue.CancelAsync(id)).Outcome);
        await Task.Delay(200);

        Assert.Empty(await queue.ClaimAsync("w1", 10));
        Assert.Equal(0, await Db.SortedSetLengthAsync(queue.Keys.Scheduled));
        Assert.Equal(JobStatus.Cancelled, (await queue.GetAsync(id))!.Record.Status);
    }

    [Fact]
    public async Task A_running_job_cancelled_names_its_worker_and_lease_the_renewal_reports_it_and_its_outcome_ends_it_cancelled()
    {
        var queue = redis.NewSpace(Options).Queue;
        var failing = await queue.SubmitAsync("1");
        var succeeding = await queue.SubmitAsync("2");
        var claimed = await queue.ClaimAsync("w1", 2);

        var cancel = await queue.CancelAsync(failing);
        Assert.Equal(new CancelResult(QueueOutcome.Cancelling, "w1", claimed[0].Lease), cancel);
        Assert.Equal(QueueOutcome.Cancelling, (await queue.CancelAsync(succeeding)).Outcome);
        var running = await queue.GetAsync(failing);
        Assert.Equal(JobStatus.Working, running!.Record.Status);
        Assert.NotNull(running.Record.CancelRequestedAt);

        // The worker the mesh could not reach learns of it at its next renewal; the leases stay held meanwhile.
        var renewal = await queue.RenewAsync([claimed[0].Lease, claimed[1].Lease]);
        Assert.Empty(renewal.Lost);
        Assert.Equal([claimed[0].Lease, claimed[1].Lease], renewal.CancelRequested);

        // The handler stopped (it threw on its token): the failure ends the job cancelled, not retried.
        Assert.Equal(QueueOutcome.Cancelled, await queue.FailAsync(claimed[0].Lease, 1, "Cancelled by request."));
        // The handler finished anyway: the job still ends cancelled, its result not kept.
        Assert.Equal(QueueOutcome.Cancelled, await queue.CompleteAsync(claimed[1].Lease, "\"too late\""));

        foreach (var id in new[] { failing, succeeding })
        {
            var job = (await queue.GetAsync(id))!;
            Assert.Equal(JobStatus.Cancelled, job.Record.Status);
            Assert.Null(job.Result);
        }
        Assert.Empty(await queue.ClaimAsync("w2", 10));
        Assert.Equal(0, await Db.SortedSetLengthAsync(queue.Keys.Leases));
        Assert.Equal(0, await Db.SortedSetLengthAsync(queue.Keys.Cancels));
        Assert.Equal(0, await Db.SortedSetLengthAsync(queue.Keys.Failed));
        Assert.Equal(QueueOutcome.AlreadyFinished, (await queue.CancelAsync(failing)).Outcome);
    }

    [Fact]
    public async Task A_handler_that_does_not_stop_within_the_grace_loses_its_lease_and_its_result_is_stale()
    {
        var queue = redis.NewSpace(WithLease(TimeSpan.FromMilliseconds(600))).Queue;
        var id = await queue.SubmitAsync("1");
        var claimed = Assert.Single(await queue.ClaimAsync("w1", 1));
        var requested = System.Diagnostics.Stopwatch.StartNew();
        Assert.Equal(QueueOutcome.Cancelling, (await queue.CancelAsync(id)).Outcome);

        // The worker keeps renewing (its handler runs on); the sweep leaves the job working until the grace has passed,
        // then revokes the lease.
        var revokedAfter = TimeSpan.Zero;
        while (revokedAfter == TimeSpan.Zero)
        {
            Assert.True(requested.Elapsed < Patience, "the lease was never revoked");
            var renewal = await queue.RenewAsync([claimed.Lease]);
            if (renewal.Lost.Count == 0)
            {
                Assert.Equal([claimed.Lease], renewal.CancelRequested);
            }
            if ((await queue.SweepExpiredLeasesAsync()).Cancelled == 1)
            {
                revokedAfter = requested.Elapsed;
            }
            else
            {
                Assert.Equal(JobStatus.Working, (await queue.GetAsync(id))!.Record.Status);
                await Task.Delay(50);
            }
        }
        Assert.True(revokedAfter.TotalMilliseconds >= Options.CancelGraceMs, $"revoked {revokedAfter.TotalMilliseconds} ms after the request");

        Assert.Equal(JobStatus.Cancelled, (await queue.GetAsync(id))!.Record.Status);
        Assert.Equal([claimed.Lease], (await queue.RenewAsync([claimed.Lease])).Lost);
        Assert.Equal(QueueOutcome.Stale, await queue.CompleteAsync(claimed.Lease, "\"late\""));
        Assert.Equal(QueueOutcome.Stale, await queue.FailAsync(claimed.Lease, 1, "late"));
        Assert.Equal(QueueOutcome.Stale, await queue.ReleaseAsync(claimed.Lease));
        var job = (await queue.GetAsync(id))!;
        Assert.Equal(JobStatus.Cancelled, job.Record.Status);
        Assert.Null(job.Result);
        Assert.Equal(0, await Db.SortedSetLengthAsync(queue.Keys.Leases));
    }

    [Fact]
    public async Task A_cancelled_job_handed_back_by_a_stopping_worker_or_whose_lease_lapsed_ends_cancelled_not_requeued()
    {
        var queue = redis.NewSpace(WithLease(TimeSpan.FromMilliseconds(300))).Queue;
        var handedBack = await queue.SubmitAsync("1");
        var lapsed = await queue.SubmitAsync("2");
        var claimed = await queue.ClaimAsync("w1", 2);
        await queue.CancelAsync(handedBack);
        await queue.CancelAsync(lapsed);

        Assert.Equal(QueueOutcome.Cancelled, await queue.ReleaseAsync(claimed[0].Lease));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var sweep = await queue.SweepExpiredLeasesAsync();
        while (sweep.Cancelled == 0 && sweep.Requeued == 0 && clock.Elapsed < Patience)
        {
            await Task.Delay(50);
            sweep = await queue.SweepExpiredLeasesAsync();
        }
        Assert.Equal((0, 1), (sweep.Requeued, sweep.Cancelled));

        Assert.Empty(await queue.ClaimAsync("w2", 10));
        Assert.Equal(JobStatus.Cancelled, (await queue.GetAsync(handedBack))!.Record.Status);
        Assert.Equal(JobStatus.Cancelled, (await queue.GetAsync(lapsed))!.Record.Status);
    }

    [Fact]
    public async Task A_finished_job_is_not_cancelled()
    {
        var queue = redis.NewSpace(Options).Queue;
        var id = await queue.SubmitAsync("1");
        var claimed = Assert.Single(await queue.ClaimAsync("w1", 1));
        Assert.Equal(QueueOutcome.Worked, await queue.CompleteAsync(claimed.Lease, "\"done\""));

        Assert.Equal(new CancelResult(QueueOutcome.AlreadyFinished, FinishedStatus: "worked"), await queue.CancelAsync(id));
        Assert.Equal("\"done\"", (await queue.GetAsync(id))!.Result);
        Assert.Equal(new CancelResult(QueueOutcome.NotFound), await queue.CancelAsync("AAAAAAAAAAAAAAAAAAAAAA"));
        Assert.Equal(new CancelResult(QueueOutcome.NotFound), await queue.CancelAsync("not an id"));
    }
}
