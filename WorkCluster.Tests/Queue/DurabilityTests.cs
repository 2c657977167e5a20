using Microsoft.Extensions.Options;
using StackExchange.Redis;
using WorkCluster.Queue;
using WorkCluster.Redis;
using WorkCluster.Tests.Infrastructure;

namespace WorkCluster.Tests.Queue;

/// <summary>
/// What a store that answers late, loses its last writes or keeps only part of them does to the queue: an answer that
/// never came is asked for again rather than dropped, a rolled-back claim is refused rather than recorded twice, and a
/// restarted store's indexes are mended from the records.
/// </summary>
[Collection(RedisCollection.Name)]
public sealed class DurabilityTests(RedisServerFixture redis)
{
    private IDatabase Db => redis.Connection.GetDatabase();

    /// <summary>A queue on a connection of its own with the services' outage settings (a command times out after 1.5 s).</summary>
    private async Task<(WorkQueue Queue, ConnectionMultiplexer Connection)> ServiceQueueAsync(QueueOptions? options = null)
    {
        var configuration = ConfigurationOptions.Parse(redis.Server.ConnectionString);
        RedisHostingExtensions.ConfigureForOutages(configuration);
        var connection = await ConnectionMultiplexer.ConnectAsync(configuration);
        var keyspace = new RedisKeyspace("t" + Guid.NewGuid().ToString("N")[..12]);
        return (new WorkQueue(connection, new QueueScripts(), new QueueKeys(keyspace), Options.Create(options ?? new QueueOptions()), redis.Telemetry,
            redis.Commit), connection);
    }

    /// <summary>Keeps redis-server busy with a script for <paramref name="busy"/> (below its busy-reply threshold, 5 s, so others wait, unanswered).</summary>
    private async Task<Task> KeepRedisBusyAsync(TimeSpan busy)
    {
        var running = Db.ScriptEvaluateAsync("""
            local function now() local t = redis.call('TIME') return t[1] * 1000 + t[2] / 1000 end
            local started = now()
            while now() - started < tonumber(ARGV[1]) do end
            return 1
            """, values: [(long)busy.TotalMilliseconds]);
        await Task.Delay(300); // it runs before anything sent from now on
        return running;
    }

    [SkippableFact]
    public async Task A_submission_whose_answer_never_came_is_sent_again_under_its_id_and_created_once()
    {
        TestStore.SkipOnGarnet("a script that keeps the store from answering (Garnet runs scripts on many threads)");
        var (queue, connection) = await ServiceQueueAsync();
        await using var _ = connection;

        var busy = await KeepRedisBusyAsync(TimeSpan.FromSeconds(3));
        var asked = System.Diagnostics.Stopwatch.StartNew();
        var result = await queue.EnqueueAsync("echo", "1", "api-test");
        var took = asked.Elapsed;
        await busy;

        Assert.True(took > RedisHostingExtensions.CommandTimeout, $"answered after {took}: the first answer did not time out, nothing was sent again");
        Assert.Equal(QueueOutcome.Created, result.Outcome);
        Assert.Equal([result.Id!], (await Db.HashKeysAsync(queue.Keys.Jobs)).Select(k => (string)k!));
        Assert.Equal(1, await Db.SortedSetLengthAsync(queue.Keys.Ready));
        Assert.Equal(1, (await queue.GetStatsAsync()).UnfinishedBytes);
    }

    [SkippableFact]
    public async Task A_submission_never_confirmed_names_the_job_it_may_have_queued_and_that_job_exists_once()
    {
        TestStore.SkipOnGarnet("a script that keeps the store from answering (Garnet runs scripts on many threads)");
        var (queue, connection) = await ServiceQueueAsync();
        await using var _ = connection;

        var busy = await KeepRedisBusyAsync(TimeSpan.FromSeconds(4.5)); // longer than both tries
        var unknown = await Assert.ThrowsAsync<SubmissionOutcomeUnknownException>(() => queue.EnqueueAsync("echo", "1", "api-test"));
        await busy;

        await Eventually.HoldsAsync(async () => await queue.GetAsync(unknown.JobId) is not null, $"job {unknown.JobId} was never queued");
        Assert.Equal([unknown.JobId], (await Db.HashKeysAsync(queue.Keys.Jobs)).Select(k => (string)k!));
        Assert.Equal(1, await Db.SortedSetLengthAsync(queue.Keys.Ready));
    }

    [SkippableFact]
    public async Task A_claim_whose_answer_never_came_is_found_again_and_its_jobs_run_under_their_leases()
    {
        TestStore.SkipOnGarnet("a script that keeps the store from answering (Garnet runs scripts on many threads)");
        var (queue, connection) = await ServiceQueueAsync();
        await using var _ = connection;
        using var recovered = new CounterReader(redis.Meters, "workcluster.claims.recovered");
        var ids = new[] { await queue.SubmitAsync("1"), await queue.SubmitAsync("2"), await queue.SubmitAsync("3") };

        var busy = await KeepRedisBusyAsync(TimeSpan.FromSeconds(3));
        var claimed = await queue.ClaimAsync("w1", 10);
        await busy;

        Assert.Equal(ids.Order(), claimed.Select(j => j.Id).Order());
        Assert.All(claimed, j => Assert.Equal(1, j.Record.Attempts));
        Assert.Equal(3, recovered.Total);
        Assert.Empty(await queue.ClaimAsync("w1", 10));
        foreach (var job in claimed)
        {
            Assert.Empty((await queue.RenewAsync([job.Lease])).Lost);
            Assert.Equal(QueueOutcome.Worked, await queue.CompleteAsync(job.Lease, job.Data));
        }
    }

    [SkippableFact]
    public async Task A_claim_whose_answer_was_lost_while_the_store_stayed_away_longer_than_a_lease_is_found_when_it_returns()
    {
        TestStore.SkipOnGarnet("a script that keeps the store from answering (Garnet runs scripts on many threads)");
        var (queue, connection) = await ServiceQueueAsync(new QueueOptions { LeaseTtl = TimeSpan.FromSeconds(1) });
        await using var _ = connection;
        var ids = new[] { await queue.SubmitAsync("1"), await queue.SubmitAsync("2") };

        // The claim runs, then the store answers nobody for four leases: its answer is lost, the leases lapse on the
        // store's clock (no sweep ran: the sweep holds back after such a gap), and the worker keeps asking.
        var busy = await KeepRedisBusyAsync(TimeSpan.FromSeconds(4));
        var claimed = await queue.ClaimAsync("w1", 10);
        await busy;

        Assert.Equal(ids.Order(), claimed.Select(j => j.Id).Order());
        Assert.All(claimed, j => Assert.Equal(1, j.Record.Attempts));
        foreach (var job in claimed)
        {
            Assert.Empty((await queue.RenewAsync([job.Lease])).Lost);
            Assert.Equal(QueueOutcome.Worked, await queue.CompleteAsync(job.Lease, job.Data));
        }
        // The call's key is deleted by the next claim, now that its jobs were found.
        var callKeys = Db.Multiplexer.GetServers()[0].Keys(pattern: queue.Keys.Claim("*"));
        Assert.Single(callKeys);
        Assert.Empty(await queue.ClaimAsync("w1", 10));
        Assert.Empty(Db.Multiplexer.GetServers()[0].Keys(pattern: queue.Keys.Claim("*")));
    }

    [SkippableFact]
    public async Task A_claim_the_store_lost_with_its_last_writes_is_claimed_again_and_the_first_attempt_records_nothing()
    {
        TestStore.SkipOnGarnet("DUMP and RESTORE stand in for the store's lost tail");
        var space = redis.NewSpace();
        var queue = space.Queue;
        var id = await queue.SubmitAsync("1");
        var before = await SnapshotAsync(space.Keyspace);

        // w1 claims and starts; the store crashes and comes back without that claim (with Redis:Durability=fast, its last
        // second of writes is lost): the job is pending again, and w2 claims it while w1 still runs it.
        var first = Assert.Single(await queue.ClaimAsync("w1", 1));
        await RestoreAsync(space.Keyspace, before);
        var second = Assert.Single(await queue.ClaimAsync("w2", 1));

        Assert.Equal(id, second.Id);
        Assert.NotEqual(first.Lease.Token, second.Lease.Token); // each claim's salt: the sequence number may repeat, the token not
        Assert.Equal([first.Lease], (await queue.RenewAsync([first.Lease])).Lost); // w1's handler is stopped at its next renewal
        Assert.Equal(QueueOutcome.Stale, await queue.CompleteAsync(first.Lease, "\"first\""));
        Assert.Equal(QueueOutcome.Worked, await queue.CompleteAsync(second.Lease, "\"second\""));
        Assert.Equal("\"second\"", (await queue.GetAsync(id))!.Result);
    }

    [Fact]
    public async Task After_a_restart_the_repair_puts_back_what_a_crash_left_out_of_line_and_deletes_what_never_was_accepted()
    {
        var space = redis.NewSpace(new QueueOptions { LeaseTtl = TimeSpan.FromSeconds(30) });
        var queue = space.Queue;
        var keys = queue.Keys;
        await DrainRepairAsync(queue, "run-1"); // the pass of the first start: nothing to mend

        var popped = await queue.SubmitAsync("1");       // a claim's ZPOPMIN kept, its record not
        var unleased = await queue.SubmitAsync("2");     // a claim's record kept, its lease not
        var unexpired = await queue.SubmitAsync("3");    // a completion's record kept, its expiry not
        var ready = await queue.SubmitAsync("4");        // untouched
        var claimed = await queue.ClaimAsync("w1", 2);
        Assert.Equal([popped, unleased], claimed.Select(j => j.Id));
        var finishing = Assert.Single(await queue.ClaimAsync("w2", 1));
        Assert.Equal(QueueOutcome.Worked, await queue.CompleteAsync(finishing.Lease, "\"r\""));
        var unaccepted = JobId.New();                    // an enqueue that never answered: a record, no payload
        await Db.HashSetAsync(keys.Jobs, unaccepted, $$"""{"type":"echo","accepted_by":"api-test","status":"pending","created_at":1,"attempts":0}""");

        var poppedRecord = (string)(await Db.HashGetAsync(keys.Jobs, popped))!;
        await Db.HashSetAsync(keys.Jobs, popped, poppedRecord.Replace("\"status\":\"working\"", "\"status\":\"pending\""));
        await Db.SortedSetRemoveAsync(keys.Leases, popped);
        await Db.SortedSetRemoveAsync(keys.Leases, unleased);
        await Db.SortedSetRemoveAsync(keys.Expiry, unexpired);

        Assert.Equal(0, await DrainRepairAsync(queue, "run-1")); // the same run of the store: no pass
        Assert.Equal(4, await DrainRepairAsync(queue, "run-2"));

        Assert.Null(await queue.GetAsync(unaccepted));
        Assert.NotNull(await Db.SortedSetScoreAsync(keys.Leases, unleased));
        Assert.Empty((await queue.RenewAsync([claimed[1].Lease])).Lost); // its worker keeps it
        Assert.NotNull(await Db.SortedSetScoreAsync(keys.Expiry, unexpired));
        var next = await queue.ClaimAsync("w3", 10);
        Assert.Equal([popped, ready], next.Select(j => j.Id)); // back at its place, ahead of the one behind it
        Assert.Equal(0, await DrainRepairAsync(queue, "run-2"));
    }

    private static async Task<long> DrainRepairAsync(WorkQueue queue, string runId)
    {
        long repaired = 0;
        for (var slice = 0; slice < 1000; slice++)
        {
            var (more, count) = await queue.RepairAsync(runId);
            repaired += count;
            if (!more)
            {
                return repaired;
            }
        }
        throw new InvalidOperationException("The repair pass did not end.");
    }

    private async Task<Dictionary<string, byte[]>> SnapshotAsync(RedisKeyspace keyspace)
    {
        var server = redis.Connection.GetServers()[0];
        var snapshot = new Dictionary<string, byte[]>();
        await foreach (var key in server.KeysAsync(pattern: keyspace.Key("*")))
        {
            snapshot[key!] = (await Db.KeyDumpAsync(key))!;
        }
        return snapshot;
    }

    private async Task RestoreAsync(RedisKeyspace keyspace, Dictionary<string, byte[]> snapshot)
    {
        var server = redis.Connection.GetServers()[0];
        await foreach (var key in server.KeysAsync(pattern: keyspace.Key("*")))
        {
            await Db.KeyDeleteAsync(key);
        }
        foreach (var (key, value) in snapshot)
        {
            await Db.KeyRestoreAsync(key, value);
        }
    }
}
