using System.Text.Json;
using Microsoft.Extensions.Options;
using StackExchange.Redis;
using WorkCluster.Redis;

namespace WorkCluster.Queue;

/// <summary>
/// The work queue in Redis. Each method is one atomic script call, i.e. one round trip: a job costs one
/// <see cref="EnqueueAsync"/>, its share of one <see cref="ClaimAsync"/> and one <see cref="CompleteAsync"/>.
/// </summary>
public sealed class WorkQueue(IConnectionMultiplexer redis, QueueScripts scripts, QueueKeys keys, IOptions<QueueOptions> options)
{
    private const int PromoteBatch = 1000;
    private const int PurgeBatch = 1000;

    public QueueKeys Keys { get; } = keys;

    private QueueOptions Options => options.Value;

    private IDatabase Db => redis.GetDatabase();

    /// <summary>
    /// Stores a new job and queues it, unless the queue is full or <paramref name="idempotencyKey"/> was used before
    /// (see <see cref="EnqueueOutcome"/>). Nothing is written unless a job is created.
    /// </summary>
    /// <param name="type">The work type.</param>
    /// <param name="data">The job's data as JSON text.</param>
    /// <param name="acceptedBy">The name of the API instance that accepted it.</param>
    /// <param name="traceParent">W3C trace parent of the submitting request, if any.</param>
    /// <param name="idempotencyKey">The client's Idempotency-Key, if any.</param>
    /// <param name="fingerprint">What identifies the request under that key (e.g. a hash of its body).</param>
    public async Task<EnqueueResult> EnqueueAsync(string type, string data, string acceptedBy, string? traceParent = null,
        string? idempotencyKey = null, string? fingerprint = null)
    {
        while (true)
        {
            var result = (RedisResult[])(await scripts.Enqueue.EvaluateAsync(Db,
                [Keys.Jobs, Keys.Payloads, Keys.Queue, Keys.Signal, Keys.Idempotency, Keys.Expiry],
                [JobId.New(), type, acceptedBy, data, traceParent ?? "", Options.MaxQueueLength, idempotencyKey ?? "", fingerprint ?? ""])
                .ConfigureAwait(false))!;
            var id = (string?)result[1];
            var by = (string?)result[2];
            switch ((int)result[0])
            {
                case 1: return new(EnqueueOutcome.Created, id, by);
                case 2: return new(EnqueueOutcome.Replayed, id, by);
                case 3: return new(EnqueueOutcome.KeyConflict, id, null);
                case 4: return new(EnqueueOutcome.QueueFull, null, null);
                default: continue; // 128 random bits collided with a live job: practically never; never overwrite one.
            }
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
    public async Task<IReadOnlyList<ClaimedJob>> ClaimAsync(string workerId, int max)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(max, 1);
        var result = (RedisResult[])(await scripts.Claim.EvaluateAsync(Db,
            [Keys.Queue, Keys.Processing(workerId), Keys.Jobs, Keys.Payloads, Keys.Signal, Keys.Paused],
            [workerId, max]).ConfigureAwait(false))!;
        var jobs = new ClaimedJob[result.Length / 3];
        for (var i = 0; i < jobs.Length; i++)
        {
            jobs[i] = new ClaimedJob((string)result[3 * i]!, ParseRecord((string)result[3 * i + 1]!), (string)result[3 * i + 2]!);
        }
        return jobs;
    }

    /// <summary>
    /// Stores the result of a job <paramref name="workerId"/> ran and marks it worked.
    /// Returns false if the job had been finished already (by another run) or no longer exists.
    /// </summary>
    public async Task<bool> CompleteAsync(string workerId, string id, string result)
    {
        var done = await scripts.Complete.EvaluateAsync(Db,
            [Keys.Jobs, Keys.Payloads, Keys.Results, Keys.Processing(workerId), Keys.Expiry],
            [id, workerId, result, (long)Options.ResultTtl.TotalMilliseconds]).ConfigureAwait(false);
        return (long)done == 1;
    }

    /// <summary>
    /// Records that attempt <paramref name="attempt"/> of a job failed with <paramref name="error"/>: a retry is
    /// scheduled after an exponential, fully jittered delay, or, after the last attempt, the job fails for good.
    /// </summary>
    public async Task<FailOutcome> FailAsync(string workerId, string id, int attempt, string error)
    {
        var delay = Backoff.FullJitter(Options.RetryBaseDelay, Options.RetryMaxDelay, attempt - 1);
        var outcome = await scripts.Fail.EvaluateAsync(Db,
            [Keys.Jobs, Keys.Processing(workerId), Keys.Scheduled, Keys.Failed, Keys.Expiry],
            [id, workerId, error, (long)delay.TotalMilliseconds, Options.MaxAttempts, (long)Options.FailedTtl.TotalMilliseconds])
            .ConfigureAwait(false);
        return (long)outcome switch
        {
            1 => FailOutcome.RetryScheduled,
            2 => FailOutcome.DeadLettered,
            _ => FailOutcome.Stale,
        };
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
            [livenessKey, Keys.Processing(workerId), Keys.Queue, Keys.Jobs, Keys.Signal, Keys.Failed, Keys.Expiry],
            [workerId, Options.MaxAttempts, (long)Options.FailedTtl.TotalMilliseconds]).ConfigureAwait(false))!;
        var requeued = (int)result[0];
        return requeued < 0 ? new RecoveryResult(true, 0, 0) : new RecoveryResult(false, requeued, (int)result[1]);
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
        var result = await scripts.Retry.EvaluateAsync(Db, [Keys.Jobs, Keys.Failed, Keys.Expiry, Keys.Queue, Keys.Signal], [id])
            .ConfigureAwait(false);
        return result.IsNull ? RetryOutcome.NotFound : (string?)result == "queued" ? RetryOutcome.Queued : RetryOutcome.NotFailed;
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

    /// <summary>Number of jobs waiting in the queue.</summary>
    public Task<long> GetQueueLengthAsync() => Db.ListLengthAsync(Keys.Queue);

    private static JobRecord ParseRecord(string json) =>
        JsonSerializer.Deserialize(json, QueueJson.Default.JobRecord)
        ?? throw new InvalidDataException("A job record in Redis is not valid JSON.");
}
