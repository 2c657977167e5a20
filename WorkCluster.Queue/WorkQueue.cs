using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.Options;
using StackExchange.Redis;
using WorkCluster.Redis;

namespace WorkCluster.Queue;

/// <summary>
/// The work queue in Redis. Each method is one atomic script call, i.e. one round trip: a job costs one
/// <see cref="EnqueueAsync"/>, its share of one <see cref="ClaimAsync"/> and one <see cref="CompleteAsync"/>.
/// </summary>
public sealed class WorkQueue(IConnectionMultiplexer redis, QueueScripts scripts, QueueKeys keys, IOptions<QueueOptions> options,
    QueueTelemetry telemetry)
{
    private const int PromoteBatch = 1000;
    private const int PurgeBatch = 250; // a short script: Redis serves nobody else while it runs

    public QueueKeys Keys { get; } = keys;

    private QueueOptions Options => options.Value;

    private IDatabase Db => redis.GetDatabase();

    /// <summary>
    /// Stores a new job and queues it, unless the queue is full or <paramref name="idempotencyKey"/> was used before
    /// (see <see cref="EnqueueOutcome"/>). Nothing is written unless a job is created. Runs in a <c>publish</c> span
    /// whose context is stored with the job, so that the worker's span continues the submitter's trace.
    /// </summary>
    /// <param name="type">The work type.</param>
    /// <param name="data">The job's data as JSON text.</param>
    /// <param name="acceptedBy">The name of the API instance that accepted it.</param>
    /// <param name="idempotencyKey">The client's Idempotency-Key, if any.</param>
    /// <param name="fingerprint">What identifies the request under that key (e.g. a hash of its body).</param>
    public async Task<EnqueueResult> EnqueueAsync(string type, string data, string acceptedBy,
        string? idempotencyKey = null, string? fingerprint = null)
    {
        using var activity = QueueTelemetry.StartPublish(Keys.Queue);
        var traceParent = Activity.Current?.Id ?? "";
        while (true)
        {
            var result = (RedisResult[])(await scripts.Enqueue.EvaluateAsync(Db,
                [Keys.Jobs, Keys.Payloads, Keys.Queue, Keys.Signal, Keys.Idempotency, Keys.Expiry],
                [JobId.New(), type, acceptedBy, data, traceParent, Options.MaxQueueLength, idempotencyKey ?? "", fingerprint ?? ""])
                .ConfigureAwait(false))!;
            var id = (string?)result[1];
            var by = (string?)result[2];
            var trace = (string?)result[3] is { Length: > 0 } t ? t : null;
            EnqueueResult outcome;
            switch ((int)result[0])
            {
                case 1: outcome = new(EnqueueOutcome.Created, id, by, trace); break;
                case 2: outcome = new(EnqueueOutcome.Replayed, id, by, trace); break;
                case 3: outcome = new(EnqueueOutcome.KeyConflict, id, null, null); break;
                case 4: outcome = new(EnqueueOutcome.QueueFull, null, null, null); break;
                default: continue; // 128 random bits collided with a live job: practically never; never overwrite one.
            }
            activity?.SetTag("messaging.message.id", outcome.Id).SetTag("workcluster.enqueue.outcome", outcome.Outcome.ToString());
            if (outcome.Outcome == EnqueueOutcome.Created)
            {
                telemetry.Accepted(type);
            }
            return outcome;
        }
    }

    /// <summary>The job with this id, or null if there is none or its TTL has passed.</summary>
    public async Task<JobView?> GetAsync(string id)
    {
        if (!JobId.IsWellFormed(id))
        {
            return null;
        }
        var result = await scripts.Get.EvaluateAsync(Db, [Keys.Jobs, Keys.Results, Keys.Expiry], [id]).ConfigureAwait(false);
        if (result.IsNull)
        {
            return null;
        }
        var parts = (RedisResult[])result!;
        return new JobView(id, ParseRecord((string)parts[0]!), parts[1].IsNull ? null : (string?)parts[1]);
    }

    /// <summary>
    /// Moves up to <paramref name="max"/> jobs from the head of the queue to <paramref name="workerId"/>'s
    /// processing list and marks them working. Returns nothing while the queue is empty or paused.
    /// </summary>
    public async Task<IReadOnlyList<ClaimedJob>> ClaimAsync(string workerId, int max) =>
        (await ClaimAsync(workerId, max, livenessKey: null).ConfigureAwait(false))!;

    /// <summary>
    /// As <see cref="ClaimAsync(string, int)"/>, for a worker whose liveness is the key <paramref name="livenessKey"/>
    /// (the one <see cref="RecoverAsync"/> checks): returns null, claiming nothing, while that key does not exist.
    /// A job may only enter the processing list of a worker the cluster can see, or nobody would take it back
    /// should that worker die.
    /// </summary>
    public async Task<IReadOnlyList<ClaimedJob>?> ClaimAsync(string workerId, int max, string? livenessKey)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(max, 1);
        RedisKey[] scriptKeys = livenessKey is null
            ? [Keys.Queue, Keys.Processing(workerId), Keys.Jobs, Keys.Payloads, Keys.Signal, Keys.Paused]
            : [Keys.Queue, Keys.Processing(workerId), Keys.Jobs, Keys.Payloads, Keys.Signal, Keys.Paused, livenessKey];
        var reply = await scripts.Claim.EvaluateAsync(Db, scriptKeys, [workerId, max]).ConfigureAwait(false);
        if (reply.Resp2Type == ResultType.Integer)
        {
            return null; // -1: the worker is not registered
        }
        var result = (RedisResult[])reply!;
        var jobs = new ClaimedJob[result.Length / 3];
        for (var i = 0; i < jobs.Length; i++)
        {
            var record = ParseRecord((string)result[3 * i + 1]!);
            jobs[i] = new ClaimedJob((string)result[3 * i]!, record, (string)result[3 * i + 2]!);
            telemetry.QueueWait(record.Type, TimeSpan.FromMilliseconds((record.StartedAt ?? record.CreatedAt) - record.CreatedAt));
        }
        return jobs;
    }

    /// <summary>
    /// Stores the result of a job <paramref name="workerId"/> ran and marks it worked.
    /// Returns false if the job had been finished already (by another run) or no longer exists.
    /// </summary>
    public async Task<bool> CompleteAsync(string workerId, string id, string result, string? type = null)
    {
        var done = (long)await scripts.Complete.EvaluateAsync(Db,
            [Keys.Jobs, Keys.Payloads, Keys.Results, Keys.Processing(workerId), Keys.Expiry, Keys.Stats],
            [id, workerId, result, (long)Options.ResultTtl.TotalMilliseconds]).ConfigureAwait(false) == 1;
        if (done)
        {
            telemetry.Worked(type ?? "");
        }
        return done;
    }

    /// <summary>
    /// Records that attempt <paramref name="attempt"/> of a job failed with <paramref name="error"/>: a retry is
    /// scheduled after an exponential, fully jittered delay, or, after the last attempt, the job fails for good.
    /// </summary>
    public async Task<FailOutcome> FailAsync(string workerId, string id, int attempt, string error, string? type = null)
    {
        var delay = Backoff.FullJitter(Options.RetryBaseDelay, Options.RetryMaxDelay, attempt - 1);
        var outcome = await scripts.Fail.EvaluateAsync(Db,
            [Keys.Jobs, Keys.Processing(workerId), Keys.Scheduled, Keys.Failed, Keys.Expiry, Keys.Stats],
            [id, workerId, error, (long)delay.TotalMilliseconds, Options.MaxAttempts, (long)Options.FailedTtl.TotalMilliseconds])
            .ConfigureAwait(false);
        switch ((long)outcome)
        {
            case 1:
                telemetry.Retried(type ?? "");
                return FailOutcome.RetryScheduled;
            case 2:
                telemetry.Failed(type ?? "");
                return FailOutcome.DeadLettered;
            default:
                return FailOutcome.Stale;
        }
    }

    /// <summary>Moves retries that are due into the queue; returns how many.</summary>
    public async Task<long> PromoteDueRetriesAsync() =>
        (long)await scripts.Promote.EvaluateAsync(Db, [Keys.Scheduled, Keys.Queue, Keys.Signal], [PromoteBatch]).ConfigureAwait(false);

    /// <summary>
    /// Takes back the jobs of a worker whose liveness key <paramref name="livenessKey"/> has expired: each goes back
    /// to the head of the queue, or fails if it has used up its attempts. Nothing happens while the key exists.
    /// </summary>
    public async Task<RecoveryResult> RecoverAsync(string workerId, string livenessKey)
    {
        var result = (RedisResult[])(await scripts.Recover.EvaluateAsync(Db,
            [livenessKey, Keys.Processing(workerId), Keys.Queue, Keys.Jobs, Keys.Signal, Keys.Failed, Keys.Expiry, Keys.Stats],
            [workerId, Options.MaxAttempts, (long)Options.FailedTtl.TotalMilliseconds]).ConfigureAwait(false))!;
        var requeued = (int)result[0];
        if (requeued < 0)
        {
            return new RecoveryResult(true, 0, 0);
        }
        if ((int)result[1] > 0)
        {
            telemetry.FailedAfterCrash((int)result[1]);
        }
        return new RecoveryResult(false, requeued, (int)result[1]);
    }

    /// <summary>Hands a job <paramref name="workerId"/> will not finish back to the head of the queue, the attempt not counted.</summary>
    public async Task<bool> ReleaseAsync(string workerId, string id) =>
        (long)await scripts.Release.EvaluateAsync(Db, [Keys.Processing(workerId), Keys.Queue, Keys.Jobs, Keys.Signal], [workerId, id])
            .ConfigureAwait(false) == 1;

    /// <summary>Sends a failed job back to the queue with its attempts reset.</summary>
    public async Task<RetryOutcome> RetryFailedAsync(string id)
    {
        if (!JobId.IsWellFormed(id))
        {
            return RetryOutcome.NotFound;
        }
        return (await RetryAsync([id]).ConfigureAwait(false))[0];
    }

    /// <summary>Sends every failed job (the whole dead letter) back to the queue; returns how many.</summary>
    public async Task<long> RequeueAllFailedAsync()
    {
        long requeued = 0;
        while (true)
        {
            var ids = await Db.SortedSetRangeByRankAsync(Keys.Failed, 0, PromoteBatch - 1).ConfigureAwait(false);
            if (ids.Length == 0)
            {
                return requeued;
            }
            var outcomes = await RetryAsync(ids.Select(id => (string)id!).ToArray()).ConfigureAwait(false);
            var queued = outcomes.Count(o => o == RetryOutcome.Queued);
            requeued += queued;
            if (queued == 0)
            {
                return requeued; // only entries that expired meanwhile are left; the purge removes them
            }
        }
    }

    private async Task<RetryOutcome[]> RetryAsync(string[] ids)
    {
        var result = (RedisResult[])(await scripts.Retry.EvaluateAsync(Db, [Keys.Jobs, Keys.Failed, Keys.Expiry, Keys.Queue, Keys.Signal],
            ids.Select(id => (RedisValue)id).ToArray()).ConfigureAwait(false))!;
        return result.Select(r => r.IsNull ? RetryOutcome.NotFound : (string?)r == "queued" ? RetryOutcome.Queued : RetryOutcome.NotFailed)
            .ToArray();
    }

    /// <summary>Workers stop claiming until <see cref="ResumeAsync"/>; submissions stay open.</summary>
    public Task PauseAsync() => scripts.Pause.EvaluateAsync(Db, [Keys.Paused], []);

    /// <summary>Workers claim again.</summary>
    public Task ResumeAsync() => scripts.Resume.EvaluateAsync(Db, [Keys.Paused, Keys.Queue, Keys.Signal], []);

    /// <summary>The queue at a glance, in one round trip: depth, retries waiting, dead letter, totals, paused.</summary>
    public async Task<QueueStats> GetStatsAsync()
    {
        var result = (RedisResult[])(await scripts.Stats.EvaluateAsync(Db,
            [Keys.Queue, Keys.Scheduled, Keys.Failed, Keys.Stats, Keys.Paused], []).ConfigureAwait(false))!;
        var depth = (long)result[0];
        telemetry.QueueDepth(depth);
        return new QueueStats(depth, (long)result[1], (long)result[2], (long)result[3], (long)result[4], (long)result[5] == 1);
    }

    /// <summary>One page of the dead letter, newest first.</summary>
    public async Task<FailedPage> GetFailedAsync(int offset, int limit)
    {
        var result = (RedisResult[])(await scripts.FailedPage.EvaluateAsync(Db, [Keys.Failed, Keys.Jobs, Keys.Expiry], [offset, limit])
            .ConfigureAwait(false))!;
        var jobs = new List<JobView>((result.Length - 1) / 2);
        for (var i = 1; i + 1 < result.Length; i += 2)
        {
            jobs.Add(new JobView((string)result[i]!, ParseRecord((string)result[i + 1]!), null));
        }
        return new FailedPage((long)result[0], jobs);
    }

    /// <summary>Deletes finished jobs whose TTL has passed; returns how many (at most one batch).</summary>
    public async Task<long> PurgeExpiredAsync() =>
        (long)await scripts.Purge.EvaluateAsync(Db,
            [Keys.Expiry, Keys.Jobs, Keys.Payloads, Keys.Results, Keys.Failed, Keys.Idempotency], [PurgeBatch]).ConfigureAwait(false);

    /// <summary>Number of jobs waiting in the queue (also what the queue-depth gauge reports next).</summary>
    public async Task<long> GetQueueLengthAsync()
    {
        var depth = await Db.ListLengthAsync(Keys.Queue).ConfigureAwait(false);
        telemetry.QueueDepth(depth);
        return depth;
    }

    private static JobRecord ParseRecord(string json) =>
        JsonSerializer.Deserialize(json, QueueJson.Default.JobRecord)
        ?? throw new InvalidDataException("A job record in Redis is not valid JSON.");
}
