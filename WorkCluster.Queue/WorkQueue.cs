using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.Options;
using StackExchange.Redis;
using WorkCluster.Redis;

namespace WorkCluster.Queue;

/// <summary>
/// The work queue in Redis. Each method is one atomic script call, i.e. one round trip: a job costs its share of one
/// <see cref="EnqueueAsync"/> call, of one <see cref="ClaimAsync"/> and of one <see cref="CompleteAsync"/> call (plus
/// its share of a <see cref="RenewAsync"/> for every lease renewal interval it runs). Submissions and completions are
/// group-committed: those made while earlier ones are on their way to Redis go together in one script call
/// (<see cref="QueueOptions.MaxBatch"/>), each handled in it as if it came alone.
/// </summary>
public sealed class WorkQueue(IConnectionMultiplexer redis, QueueScripts scripts, QueueKeys keys, IOptions<QueueOptions> options,
    QueueTelemetry telemetry, StoreCommit commit)
{
    private const int PromoteBatch = 1000;
    private const int PurgeBatch = 250; // a short script: Redis serves nobody else while it runs
    private const int SweepBatch = 250;

    /// <summary>
    /// The data a claim's reply may carry before it stops adding jobs (the first always comes): a reply of many large
    /// payloads would outlast the client's timeout, and the claim would then only ever stall.
    /// </summary>
    public const int ClaimReplyBudgetBytes = 1024 * 1024;

    /// <summary>The most jobs one claim takes (a larger ask gets this many; claim.lua unpacks them into one command).</summary>
    public const int MaxClaim = 1000;

    public QueueKeys Keys { get; } = keys;

    // Each script's keys, bound by name (see the script's --! keys: line); a script naming a key the keyspace does not
    // know fails here, when the queue is made.
    private readonly ScriptKeys _getKeys = keys.Bind(scripts.Get);
    private readonly ScriptKeys _claimKeys = keys.Bind(scripts.Claim, "claim");
    private readonly ScriptKeys _claimedKeys = keys.Bind(scripts.Claimed, "claim");
    private readonly ScriptKeys _leaseKeys = keys.Bind(scripts.Lease, "claim");
    private readonly ScriptKeys _renewKeys = keys.Bind(scripts.Renew);
    private readonly ScriptKeys _completeKeys = keys.Bind(scripts.Complete);
    private readonly ScriptKeys _failKeys = keys.Bind(scripts.Fail);
    private readonly ScriptKeys _releaseKeys = keys.Bind(scripts.Release);
    private readonly ScriptKeys _progressKeys = keys.Bind(scripts.Progress);
    private readonly ScriptKeys _webhookClaimKeys = keys.Bind(scripts.WebhookClaim);
    private readonly ScriptKeys _webhookDoneKeys = keys.Bind(scripts.WebhookDone);
    private readonly ScriptKeys _cancelKeys = keys.Bind(scripts.Cancel);
    private readonly ScriptKeys _sweepKeys = keys.Bind(scripts.Sweep);
    private readonly ScriptKeys _promoteKeys = keys.Bind(scripts.Promote);
    private readonly ScriptKeys _retryKeys = keys.Bind(scripts.Retry);
    private readonly ScriptKeys _pauseKeys = keys.Bind(scripts.Pause);
    private readonly ScriptKeys _resumeKeys = keys.Bind(scripts.Resume);
    private readonly ScriptKeys _statsKeys = keys.Bind(scripts.Stats);
    private readonly ScriptKeys _pageKeys = keys.Bind(scripts.FailedPage, "list");
    private readonly ScriptKeys _purgeKeys = keys.Bind(scripts.Purge);
    private readonly ScriptKeys _repairKeys = keys.Bind(scripts.Repair);
    private readonly ScriptKeys _maintainedKeys = keys.Bind(scripts.Maintained);
    private readonly ScriptKeys _maintenanceKeys = keys.Bind(scripts.Maintenance);
    private readonly ScriptKeys _turnKeys = keys.Bind(scripts.Turn, "turn");

    private QueueOptions Options => options.Value;

    private IDatabase Db => redis.GetDatabase();

    /// <summary>
    /// Stores a new job and queues it, unless the queue's budget is spent or <paramref name="idempotencyKey"/> was used
    /// before (see <see cref="QueueOutcome"/>). Nothing is written unless a job is created. Runs in a <c>publish</c>
    /// span whose context is stored with the job, so that the worker's span continues the submitter's trace.
    /// </summary>
    /// <param name="type">The work type.</param>
    /// <param name="data">The job's data as JSON text.</param>
    /// <param name="acceptedBy">The name of the API instance that accepted it.</param>
    /// <param name="options">When and how urgently it runs; the client's Idempotency-Key and the request's fingerprint.</param>
    public async Task<EnqueueResult> EnqueueAsync(string type, string data, string acceptedBy, JobOptions? options = null)
    {
        options ??= JobOptions.Default;
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Priority, JobOptions.MinPriority);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(options.Priority, JobOptions.MaxPriority);
        if (options.Delay is not null && options.RunAt is not null)
        {
            throw new ArgumentException("A job is delayed or runs at a time, not both.", nameof(options));
        }
        using var activity = QueueTelemetry.StartPublish(Keys.Queue);
        var submission = new Submission(JobId.New(), type, acceptedBy, data, Activity.Current?.Id ?? "", options);
        var result = await SubmitOnceAsync(submission).ConfigureAwait(false);
        var id = (string?)result.Id;
        var by = (string?)result.AcceptedBy;
        var trace = (string?)result.Trace is { Length: > 0 } t ? t : null;
        if ((string?)result.Code == "duplicate")
        {
            throw new InvalidOperationException($"enqueue.lua was given job id {submission.Id} twice in one call.");
        }
        var outcome = QueueOutcomes.Parse(result.Code) switch
        {
            QueueOutcome.Created => new EnqueueResult(QueueOutcome.Created, id, by, trace),
            QueueOutcome.Replayed => new EnqueueResult(QueueOutcome.Replayed, id, by, trace),
            QueueOutcome.KeyConflict => new EnqueueResult(QueueOutcome.KeyConflict, id, null, null),
            var refused and (QueueOutcome.QueueFull or QueueOutcome.QueueBytesFull or QueueOutcome.TooFarAhead) => new EnqueueResult(refused, null, null, null),
            var other => throw new InvalidDataException($"enqueue.lua answered {other.Name()} for a submission."),
        };
        activity?.SetTag("messaging.message.id", outcome.Id).SetTag("workcluster.enqueue.outcome", outcome.Outcome.Name());
        if (outcome.Outcome == QueueOutcome.Created)
        {
            telemetry.Accepted(type);
        }
        return outcome;
    }

    /// <summary>
    /// Sends a submission; should its answer not come although it was sent (a time-out, a connection lost on the way),
    /// sends it once more under the same id, which the script takes as the same submission: it is created once, whichever
    /// call got there. If that does not settle it either, whether the job exists is not known: the caller hears so, with
    /// its id (<see cref="SubmissionOutcomeUnknownException"/>), instead of a failure that invites a duplicate.
    /// </summary>
    private async Task<Submitted> SubmitOnceAsync(Submission submission)
    {
        try
        {
            return await _enqueues.RunAsync(submission).ConfigureAwait(false);
        }
        catch (Exception e) when (MayHaveReachedRedis(e))
        {
            try
            {
                return await _enqueues.RunAsync(submission).ConfigureAwait(false);
            }
            catch (Exception again) when (again is RedisException or TimeoutException)
            {
                throw new SubmissionOutcomeUnknownException(submission.Id, again);
            }
        }
    }

    /// <summary>Whether a failed call may have run in Redis all the same: it was sent, and its answer never came.</summary>
    private static bool MayHaveReachedRedis(Exception e) => e switch
    {
        RedisTimeoutException timeout => timeout.Commandstatus is CommandStatus.Sent or CommandStatus.Unknown,
        RedisConnectionException lost => lost.CommandStatus is CommandStatus.Sent or CommandStatus.Unknown,
        _ => false,
    };

    private sealed record Submission(string Id, string Type, string AcceptedBy, string Data, string TraceParent, JobOptions Options);

    private readonly record struct Submitted(RedisValue Code, RedisValue Id, RedisValue AcceptedBy, RedisValue Trace);

    private const int SubmissionArguments = 13;

    /// <summary>The data one group-commit call carries at most (its first submission always goes).</summary>
    private const int BatchBudgetBytes = 1024 * 1024;

    private GroupCommit<Submission, Submitted>? _enqueueBatches;

    private GroupCommit<Submission, Submitted> _enqueues => LazyInitializer.EnsureInitialized(ref _enqueueBatches,
        () => new(EnqueueBatchAsync, s => s.Data.Length, Options.MaxBatch, BatchBudgetBytes, MaxBatchesInFlight, RedisHostingExtensions.CommandTimeout));

    /// <summary>Group-commit calls of one kind on their way to Redis at once: one is being answered while the next fills.</summary>
    private const int MaxBatchesInFlight = 2;

    /// <summary>One enqueue script call for a batch of submissions (see <see cref="GroupCommit{TItem, TResult}"/>).</summary>
    private async Task<Submitted[]> EnqueueBatchAsync(IReadOnlyList<Submission> batch)
    {
        var values = new RedisValue[5 + batch.Count * SubmissionArguments];
        values[0] = Options.MaxQueueLength;
        values[1] = Options.MaxQueueBytes;
        values[2] = PriorityAgingMs;
        values[3] = (long)Options.MaxDelay.TotalMilliseconds;
        values[4] = batch.Count;
        var a = 5;
        foreach (var s in batch)
        {
            var o = s.Options;
            values[a++] = s.Id;
            values[a++] = s.Type;
            values[a++] = s.AcceptedBy;
            values[a++] = s.Data;
            values[a++] = s.TraceParent;
            values[a++] = o.IdempotencyKey ?? "";
            values[a++] = o.Fingerprint ?? "";
            values[a++] = o.Priority;
            values[a++] = o.Delay is { } delay ? Math.Max(0, (long)delay.TotalMilliseconds) : -1;
            values[a++] = o.RunAt is { } runAt ? Math.Max(0, runAt.ToUnixTimeMilliseconds()) : -1;
            values[a++] = o.CallbackUrl ?? "";
            values[a++] = o.Owner ?? "";
            values[a++] = o.HttpLane ? "http" : "";
        }
        var reply = (RedisResult[])(await scripts.Enqueue.EvaluateAsync(Db, _enqueueKeys.Keys(), values, commit).ConfigureAwait(false))!;
        var results = new Submitted[reply.Length / 4];
        for (var i = 0; i < results.Length; i++)
        {
            results[i] = new Submitted((RedisValue)reply[4 * i], (RedisValue)reply[4 * i + 1], (RedisValue)reply[4 * i + 2], (RedisValue)reply[4 * i + 3]);
        }
        return results;
    }

    private readonly ScriptKeys _enqueueKeys = keys.Bind(scripts.Enqueue);

    /// <summary>The job with this id, or null if there is none or its TTL has passed.</summary>
    public async Task<JobView?> GetAsync(string id)
    {
        if (!JobId.IsWellFormed(id))
        {
            return null;
        }
        var result = await scripts.Get.EvaluateAsync(Db, _getKeys.Keys(), [id], commit).ConfigureAwait(false);
        if (result.IsNull)
        {
            return null;
        }
        var parts = (RedisResult[])result!;
        return new JobView(id, ParseRecord((string)parts[0]!), parts[1].IsNull ? null : (string?)parts[1],
            parts[2].IsNull ? null : (long)(double)parts[2]);
    }

    /// <summary>
    /// Takes up to <paramref name="max"/> jobs from the head of the ready queue (highest priority first, first in first
    /// out within a priority) for <paramref name="workerId"/>, each under a lease of <see cref="QueueOptions.LeaseTtl"/>
    /// that the caller must renew (<see cref="RenewAsync"/>) while it runs the job, and end with an outcome. Scheduled
    /// jobs that have fallen due are made ready first. Takes nothing while the queue is empty or paused; says when the
    /// next scheduled job falls due. Should the reply never arrive, the store is asked for the jobs the call took (for
    /// up to half of <see cref="ClaimMemory"/>, through an outage of the store too, or until
    /// <paramref name="cancellationToken"/> is cancelled), so that they run under their leases instead of being charged
    /// an attempt nobody ran; should that fail too, the leases lapse and the jobs go back: a claim loses nothing.
    /// </summary>
    public async Task<ClaimBatch> ClaimAsync(string workerId, int max, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(max, 1);
        max = Math.Min(max, MaxClaim);
        var salt = ClaimSalt();
        var answered = TakeAnsweredClaims();
        RedisResult[] result;
        try
        {
            result = (RedisResult[])(await scripts.Claim.EvaluateAsync(Db, _claimKeys.Keys(answered, ("claim", Keys.Claim(salt))),
                [workerId, max, LeaseTtlMs, salt, ClaimReplyBudgetBytes, PriorityAgingMs, ClaimMemoryMs], commit).ConfigureAwait(false))!;
        }
        catch (Exception e) when (MayHaveReachedRedis(e))
        {
            // A worker's claim loop can wait for the store: nothing else is claimed meanwhile anyway.
            return new ClaimBatch(await RecoverClaimAsync(salt, e, ClaimMemory / 2, cancellationToken).ConfigureAwait(false), null);
        }
        var jobs = ReadClaimed(result, 1);
        Answered(salt, jobs.Length);
        var nextDue = (long)result[0];
        return new ClaimBatch(jobs, nextDue < 0 ? null : TimeSpan.FromMilliseconds(nextDue));
    }

    /// <summary>
    /// How long the store keeps the ids a claim (or lease) call took (<c>{wc}:claim:&lt;salt&gt;</c>), for its worker to
    /// find should the answer be lost (in an outage of the store as well: the key's time runs on the store's clock). A
    /// later call of the same process deletes the keys of the calls whose answers came, so a process keeps about one.
    /// </summary>
    public static readonly TimeSpan ClaimMemory = TimeSpan.FromMinutes(10);

    private static readonly long ClaimMemoryMs = (long)ClaimMemory.TotalMilliseconds;

    private const int MostAnsweredClaimsPerCall = 64;

    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _answeredClaims = new();

    /// <summary>Notes that the answer of the call of <paramref name="salt"/> came: its key may go (it has one if it took jobs).</summary>
    private void Answered(string salt, int taken)
    {
        if (taken > 0)
        {
            _answeredClaims.Enqueue(Keys.Claim(salt));
        }
    }

    /// <summary>The keys of answered calls for the next call to delete (those it fails to delete expire).</summary>
    private RedisKey[] TakeAnsweredClaims()
    {
        if (_answeredClaims.IsEmpty)
        {
            return [];
        }
        var keys = new List<RedisKey>();
        while (keys.Count < MostAnsweredClaimsPerCall && _answeredClaims.TryDequeue(out var key))
        {
            keys.Add(key);
        }
        return [.. keys];
    }

    /// <summary>
    /// The jobs that the claim (or lease) call of <paramref name="salt"/> took, when it ran in Redis but its answer was
    /// lost (<paramref name="lost"/>): asked for again until Redis answers, for at most <paramref name="patience"/> (or
    /// until <paramref name="cancellationToken"/> is cancelled). Only the attempts that still hold their leases are found
    /// (the sweep holds back after an outage or a restart of the store, so those lapsed meanwhile are still held). Should
    /// Redis not answer by then, <paramref name="lost"/> is thrown: the leases lapse and the sweep takes the jobs back.
    /// </summary>
    private async Task<ClaimedJob[]> RecoverClaimAsync(string salt, Exception lost, TimeSpan patience, CancellationToken cancellationToken)
    {
        var giveUp = Stopwatch.StartNew();
        var backoff = new Backoff(TimeSpan.FromMilliseconds(50), TimeSpan.FromSeconds(1));
        while (true)
        {
            try
            {
                var found = (RedisResult[])(await scripts.Claimed.EvaluateAsync(Db, _claimedKeys.Keys(("claim", Keys.Claim(salt))), [salt], commit)
                    .ConfigureAwait(false))!;
                telemetry.ClaimsRecovered(found.Length / 4);
                var recovered = ReadClaimed(found, 0);
                _answeredClaims.Enqueue(Keys.Claim(salt));
                return recovered;
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                var delay = backoff.Next();
                if (giveUp.Elapsed + delay > patience || cancellationToken.IsCancellationRequested)
                {
                    System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(lost);
                }
                try
                {
                    await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(lost);
                }
            }
        }
    }

    /// <summary>How many jobs from the head of the HTTP workers' ready queue a lease call looks at for its types.</summary>
    public const int LeaseWindow = 1000;

    /// <summary>
    /// Takes up to <paramref name="max"/> jobs of <paramref name="types"/> from the HTTP workers' ready queue (jobs whose
    /// type only workers of the HTTP lease protocol serve) for <paramref name="workerId"/>, each under a lease of
    /// <see cref="QueueOptions.LeaseTtl"/>, as <see cref="ClaimAsync"/> does for the .NET workers: renewed with
    /// <see cref="RenewAsync"/>, ended with <see cref="CompleteAsync"/>, <see cref="FailAsync"/> or
    /// <see cref="ReleaseAsync"/>, taken back by the sweep when it lapses. Looks at the first <see cref="LeaseWindow"/>
    /// jobs of that queue. Returns the jobs and when their leases end (on Redis's clock).
    /// </summary>
    public async Task<LeaseBatch> LeaseAsync(string workerId, IReadOnlyCollection<string> types, int max)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(max, 1);
        ArgumentOutOfRangeException.ThrowIfZero(types.Count);
        var salt = ClaimSalt();
        var answered = TakeAnsweredClaims();
        RedisResult[] result;
        try
        {
            result = (RedisResult[])(await scripts.Lease.EvaluateAsync(Db, _leaseKeys.Keys(answered, ("claim", Keys.Claim(salt))),
                [workerId, max, LeaseTtlMs, salt, ClaimReplyBudgetBytes, PriorityAgingMs, LeaseWindow, ClaimMemoryMs,
                    .. types.Select(t => (RedisValue)t)], commit)
                .ConfigureAwait(false))!;
        }
        catch (Exception e) when (MayHaveReachedRedis(e))
        {
            // An HTTP worker's request is waiting: half a lease at most (its leases must not lapse before it has them).
            var recovered = await RecoverClaimAsync(salt, e, Options.LeaseTtl / 2, CancellationToken.None).ConfigureAwait(false);
            // Their deadline: a lease TTL from their start (Redis's clock); the worker renews on its own clock anyway.
            return new LeaseBatch(recovered, DateTimeOffset.FromUnixTimeMilliseconds(
                recovered.Length == 0 ? 0 : recovered.Min(j => j.Record.StartedAt ?? 0) + LeaseTtlMs));
        }
        var jobs = ReadClaimed(result, 1);
        Answered(salt, jobs.Length);
        return new LeaseBatch(jobs, DateTimeOffset.FromUnixTimeMilliseconds((long)result[0]));
    }

    /// <summary>
    /// Extends every lease in <paramref name="leases"/> by one <see cref="QueueOptions.LeaseTtl"/> from now, in one
    /// round trip. Returns the leases that are no longer held (they lapsed and their jobs were taken back, or the jobs
    /// moved on): their attempts' outcomes would be stale, and their handlers should stop; and the held leases of jobs
    /// whose cancellation was requested (<see cref="CancelAsync"/>): their handlers should stop too; and the leases not
    /// renewed because their attempt has run past its type's timeout plus <see cref="QueueOptions.TimeoutGrace"/>: they
    /// lapse, and the sweep takes the job back.
    /// </summary>
    public async Task<LeaseRenewal> RenewAsync(IReadOnlyList<JobLease> leases)
    {
        if (leases.Count == 0)
        {
            return LeaseRenewal.None;
        }
        var timeouts = Options.Timeouts;
        var values = new RedisValue[3 + 2 * timeouts.Count + 2 * leases.Count];
        values[0] = LeaseTtlMs;
        values[1] = (long)(Options.Timeout + Options.TimeoutGrace).TotalMilliseconds;
        values[2] = timeouts.Count;
        var a = 3;
        foreach (var (type, timeout) in timeouts)
        {
            values[a++] = type;
            values[a++] = (long)(timeout + Options.TimeoutGrace).TotalMilliseconds;
        }
        foreach (var lease in leases)
        {
            values[a++] = lease.JobId;
            values[a++] = lease.Token;
        }
        var reply = (RedisResult[])(await scripts.Renew.EvaluateAsync(Db, _renewKeys.Keys(), values, commit).ConfigureAwait(false))!;
        JobLease[] Named(RedisResult list) => ((RedisResult[])list!).Select(k => leases[(int)k - 1]).ToArray();
        return new LeaseRenewal(Named(reply[0]), Named(reply[1]), Named(reply[2]));
    }

    /// <summary>
    /// Stores the result of the attempt that holds <paramref name="lease"/> and marks the job worked, or, if its
    /// cancellation was requested meanwhile, ends it cancelled. Changes nothing if the attempt is stale: its lease
    /// lapsed and the job was taken back (or finished by another attempt, or cancelled), or the job no longer exists. A
    /// result larger than <see cref="QueueOptions.MaxResultBytes"/> is not stored: the job fails for good, saying why.
    /// </summary>
    public async Task<QueueOutcome> CompleteAsync(JobLease lease, string result, string? type = null)
    {
        var bytes = System.Text.Encoding.UTF8.GetByteCount(result);
        if (bytes > Options.MaxResultBytes)
        {
            var failed = await FailAsync(lease, 1, $"The result ({bytes} bytes) is larger than Work:MaxResultBytes ({Options.MaxResultBytes} bytes); not stored.",
                type, retry: false).ConfigureAwait(false);
            return failed switch
            {
                QueueOutcome.Stale => QueueOutcome.Stale,
                QueueOutcome.Cancelled => QueueOutcome.Cancelled,
                _ => QueueOutcome.ResultTooLarge,
            };
        }
        var outcome = await _completions.RunAsync((lease, result)).ConfigureAwait(false);
        switch (outcome)
        {
            case QueueOutcome.Worked: telemetry.Worked(type ?? ""); break;
            case QueueOutcome.Cancelled: telemetry.Cancelled(type ?? ""); break;
            default: telemetry.StaleOutcome("complete"); break;
        }
        return outcome;
    }

    private GroupCommit<(JobLease Lease, string Result), QueueOutcome>? _completeBatches;

    private GroupCommit<(JobLease Lease, string Result), QueueOutcome> _completions => LazyInitializer.EnsureInitialized(ref _completeBatches,
        () => new(CompleteBatchAsync, c => c.Result.Length, Options.MaxBatch, BatchBudgetBytes, MaxBatchesInFlight, RedisHostingExtensions.CommandTimeout));


    /// <summary>One complete script call for a batch of outcomes (see <see cref="GroupCommit{TItem, TResult}"/>).</summary>
    private async Task<QueueOutcome[]> CompleteBatchAsync(IReadOnlyList<(JobLease Lease, string Result)> batch)
    {
        var values = new RedisValue[3 + batch.Count * 3];
        values[0] = ResultTtlMs;
        values[1] = batch.Count;
        var a = 2;
        foreach (var (lease, result) in batch)
        {
            values[a++] = lease.JobId;
            values[a++] = lease.Token;
            values[a++] = result;
        }
        values[a] = Options.MaxResultsBytes;
        var reply = (RedisResult[])(await scripts.Complete.EvaluateAsync(Db, _completeKeys.Keys(), values, commit).ConfigureAwait(false))!;
        return Array.ConvertAll(reply, r => QueueOutcomes.Parse((RedisValue)r));
    }

    /// <summary>
    /// Records that the attempt holding <paramref name="lease"/> (attempt number <paramref name="attempt"/>) failed
    /// with <paramref name="error"/> (bounded by <see cref="ErrorText.Bound"/>): a retry is scheduled after an
    /// exponential, fully jittered delay, or, after the last attempt, the job fails for good; a job whose cancellation
    /// was requested ends cancelled instead. A stale attempt changes nothing.
    /// </summary>
    /// <param name="retry">False: the job fails for good now (the dead letter), whatever attempts it has left.</param>
    public async Task<QueueOutcome> FailAsync(JobLease lease, int attempt, string error, string? type = null, bool retry = true)
    {
        var delay = Backoff.FullJitter(Options.RetryBaseDelay, Options.RetryMaxDelay, attempt - 1);
        var outcome = await scripts.Fail.EvaluateAsync(Db, _failKeys.Keys(),
            [lease.JobId, lease.Token, ErrorText.Bound(error), (long)delay.TotalMilliseconds, retry ? Options.MaxAttempts : 0,
                (long)Options.FailedTtl.TotalMilliseconds, Options.MaxFailed, Options.MaxFailedBytes, ResultTtlMs], commit)
            .ConfigureAwait(false);
        var parsed = QueueOutcomes.Parse((RedisValue)outcome);
        switch (parsed)
        {
            case QueueOutcome.RetryScheduled: telemetry.Retried(type ?? ""); break;
            case QueueOutcome.DeadLettered: telemetry.Failed(type ?? ""); break;
            case QueueOutcome.Cancelled: telemetry.Cancelled(type ?? ""); break;
            default: telemetry.StaleOutcome("fail"); break;
        }
        return parsed;
    }

    /// <summary>
    /// Hands the job of <paramref name="lease"/>, whose handler has returned without finishing it (the worker is
    /// stopping), back to its place in the queue, the attempt not counted; a job whose cancellation was requested ends
    /// cancelled instead. A stale attempt changes nothing.
    /// </summary>
    public async Task<QueueOutcome> ReleaseAsync(JobLease lease, string? type = null)
    {
        var outcome = QueueOutcomes.Parse((RedisValue)await scripts.Release.EvaluateAsync(Db, _releaseKeys.Keys(),
            [lease.JobId, lease.Token, PriorityAgingMs, ResultTtlMs], commit).ConfigureAwait(false));
        switch (outcome)
        {
            case QueueOutcome.Cancelled: telemetry.Cancelled(type ?? ""); break;
            case QueueOutcome.Stale: telemetry.StaleOutcome("release"); break;
        }
        return outcome;
    }

    /// <summary>
    /// Stores how far the attempt holding <paramref name="lease"/> has come (shown with the job, published as a
    /// <c>progress</c> event). Returns false if the attempt is stale. The caller bounds how often it reports; the message
    /// is kept as at most 1 KiB on one line (<see cref="ErrorText.Bound"/>): a handler's text may be anything, and a
    /// control character must not reach a store whose JSON encoder leaves it raw (Garnet).
    /// </summary>
    public async Task<bool> ReportProgressAsync(JobLease lease, double? percent, string? message)
    {
        var stored = await scripts.Progress.EvaluateAsync(Db, _progressKeys.Keys(),
            [lease.JobId, lease.Token, percent is { } p ? Math.Clamp(p, 0, 100) : "", message is null ? "" : ErrorText.Bound(message)], commit)
            .ConfigureAwait(false);
        return (long)stored == 1;
    }

    /// <summary>
    /// Takes up to <paramref name="max"/> due webhook deliveries for <paramref name="workerId"/>, each for one attempt
    /// under a lease of <paramref name="lease"/>: a delivery whose attempt records no answer within it is taken again
    /// (that attempt counted). Deliveries that have used <paramref name="maxAttempts"/> end failed instead.
    /// </summary>
    public async Task<IReadOnlyList<WebhookAttempt>> ClaimWebhooksAsync(string workerId, int max, TimeSpan lease, int maxAttempts)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(max, 1);
        var result = (RedisResult[])(await scripts.WebhookClaim.EvaluateAsync(Db, _webhookClaimKeys.Keys(),
            [max, (long)lease.TotalMilliseconds, ClaimSalt(), maxAttempts, workerId], commit).ConfigureAwait(false))!;
        var attempts = new WebhookAttempt[result.Length / 5];
        for (var i = 0; i < attempts.Length; i++)
        {
            var at = 5 * i;
            var id = (string)result[at]!;
            attempts[i] = new WebhookAttempt(new JobView(id, ParseRecord((string)result[at + 3]!), result[at + 4].IsNull ? null : (string?)result[at + 4]),
                (string)result[at + 1]!, (int)result[at + 2]);
        }
        return attempts;
    }

    /// <summary>
    /// Records the answer to webhook <paramref name="attempt"/>: delivered, or not (then another attempt after
    /// <paramref name="retryDelay"/>, unless it was attempt <paramref name="maxAttempts"/>). A stale attempt changes nothing.
    /// </summary>
    /// <param name="httpStatus">The receiver's HTTP status, or 0 if it gave none (no connection, time-out).</param>
    public async Task<QueueOutcome> RecordWebhookAsync(WebhookAttempt attempt, bool delivered, int httpStatus, string? error,
        TimeSpan retryDelay, int maxAttempts) =>
        QueueOutcomes.Parse((RedisValue)await scripts.WebhookDone.EvaluateAsync(Db, _webhookDoneKeys.Keys(),
            [attempt.Id, attempt.Token, httpStatus, error is null ? "" : ErrorText.Bound(error), delivered ? "1" : "0",
                (long)retryDelay.TotalMilliseconds, maxAttempts], commit).ConfigureAwait(false));

    /// <summary>
    /// Hands webhook <paramref name="attempt"/> back uncounted, due now: it was cut short before any answer (the worker
    /// stops). Returns false if the attempt is stale.
    /// </summary>
    public async Task<bool> ReleaseWebhookAsync(WebhookAttempt attempt) =>
        QueueOutcomes.Parse((RedisValue)await scripts.WebhookDone.EvaluateAsync(Db, _webhookDoneKeys.Keys(),
            [attempt.Id, attempt.Token, 0, "", "r", 0, 0], commit).ConfigureAwait(false)) == QueueOutcome.Released;

    /// <summary>
    /// Cancels job <paramref name="id"/>: a waiting job (pending, scheduled, or waiting for a retry) at once, so that it
    /// never starts; for a job being worked, requests it (the caller should tell <see cref="CancelResult.Worker"/>; the
    /// worker also learns of it at its next lease renewal), and the lease is revoked after
    /// <see cref="QueueOptions.CancelGraceMs"/> if its handler has not stopped by then. A finished job is left as it is.
    /// </summary>
    public async Task<CancelResult> CancelAsync(string id)
    {
        if (!JobId.IsWellFormed(id))
        {
            return new CancelResult(QueueOutcome.NotFound);
        }
        var reply = await scripts.Cancel.EvaluateAsync(Db, _cancelKeys.Keys(),
            [id, ResultTtlMs, Options.CancelGraceMs], commit).ConfigureAwait(false);
        var parts = (RedisResult[])reply!;
        switch (QueueOutcomes.Parse((RedisValue)parts[0]))
        {
            case QueueOutcome.NotFound:
                return new CancelResult(QueueOutcome.NotFound);
            case QueueOutcome.Cancelled:
                telemetry.Cancelled("");
                return new CancelResult(QueueOutcome.Cancelled);
            case QueueOutcome.Cancelling:
                var worker = (string?)parts[1];
                var token = (string?)parts[2];
                return new CancelResult(QueueOutcome.Cancelling, worker is { Length: > 0 } ? worker : null,
                    token is { Length: > 0 } ? new JobLease(id, token) : null);
            case QueueOutcome.AlreadyFinished:
                return new CancelResult(QueueOutcome.AlreadyFinished, FinishedStatus: (string?)parts[1]);
            case var other:
                throw new InvalidDataException($"cancel.lua answered {other.Name()}.");
        }
    }

    /// <summary>
    /// Takes back the jobs whose lease has lapsed (at most one batch): to the head of the queue, or to the dead letter
    /// on their last attempt. After a gap in sweeping (<see cref="QueueOptions.SweepGap"/>) or a restart of the store
    /// (<paramref name="storeRunId"/>, from <see cref="GetStoreRunIdAsync"/>, is not the one the last sweep saw) it holds
    /// back for one lease plus <see cref="QueueOptions.LeaseOutageGrace"/>, so that living workers renew first.
    /// </summary>
    public async Task<SweepResult> SweepExpiredLeasesAsync(string storeRunId)
    {
        ArgumentException.ThrowIfNullOrEmpty(storeRunId);
        var result = (RedisResult[])(await scripts.Sweep.EvaluateAsync(Db, _sweepKeys.Keys(),
            [(long)Options.SweepGap.TotalMilliseconds, (long)(Options.LeaseTtl + Options.LeaseOutageGrace).TotalMilliseconds,
                Options.MaxAttempts, (long)Options.FailedTtl.TotalMilliseconds, Options.MaxFailed, Options.MaxFailedBytes, SweepBatch,
                PriorityAgingMs, ResultTtlMs, storeRunId], commit)
            .ConfigureAwait(false))!;
        var sweep = new SweepResult((int)result[0], (int)result[1], TimeSpan.FromMilliseconds((long)result[2]), (int)result[3]);
        telemetry.LeasesRecovered(sweep.Requeued, sweep.DeadLettered);
        if (sweep.Cancelled > 0)
        {
            telemetry.Cancelled("", sweep.Cancelled);
        }
        return sweep;
    }

    /// <summary>One sweep (see <see cref="SweepExpiredLeasesAsync(string)"/>), asking the store for its run id first.</summary>
    public async Task<SweepResult> SweepExpiredLeasesAsync() =>
        await SweepExpiredLeasesAsync(await GetStoreRunIdAsync().ConfigureAwait(false)).ConfigureAwait(false);

    /// <summary>Makes scheduled jobs that have fallen due (delayed jobs, retries) ready; returns how many.</summary>
    public async Task<long> PromoteDueAsync() =>
        (long)await scripts.Promote.EvaluateAsync(Db, _promoteKeys.Keys(), [PromoteBatch, PriorityAgingMs], commit).ConfigureAwait(false);

    /// <summary>Sends a failed job back to the queue with its attempts reset.</summary>
    public async Task<QueueOutcome> RetryFailedAsync(string id)
    {
        if (!JobId.IsWellFormed(id))
        {
            return QueueOutcome.NotFound;
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
            var queued = outcomes.Count(o => o == QueueOutcome.Queued);
            requeued += queued;
            if (queued == 0 || outcomes.Contains(QueueOutcome.QueueFull))
            {
                // Only entries that expired meanwhile are left (the purge removes them), or the queue is full.
                return requeued;
            }
        }
    }

    private async Task<QueueOutcome[]> RetryAsync(string[] ids)
    {
        var result = (RedisResult[])(await scripts.Retry.EvaluateAsync(Db, _retryKeys.Keys(),
            [Options.MaxQueueLength, Options.MaxQueueBytes, PriorityAgingMs, .. ids.Select(id => (RedisValue)id)], commit).ConfigureAwait(false))!;
        return Array.ConvertAll(result, r => QueueOutcomes.Parse((RedisValue)r));
    }

    /// <summary>Workers stop claiming until <see cref="ResumeAsync"/>; submissions stay open.</summary>
    public Task PauseAsync() => scripts.Pause.EvaluateAsync(Db, _pauseKeys.Keys(), [], commit);

    /// <summary>Workers claim again.</summary>
    public Task ResumeAsync() => scripts.Resume.EvaluateAsync(Db, _resumeKeys.Keys(), [], commit);

    /// <summary>The queue at a glance, in one round trip: depth, retries waiting, dead letter, totals, paused, leases.</summary>
    public async Task<QueueStats> GetStatsAsync()
    {
        var result = (RedisResult[])(await scripts.Stats.EvaluateAsync(Db, _statsKeys.Keys(), [], commit)
            .ConfigureAwait(false))!;
        var figures = new Dictionary<string, long>(result.Length / 2, StringComparer.Ordinal);
        for (var i = 0; i + 1 < result.Length; i += 2)
        {
            figures[(string)result[i]!] = (long)result[i + 1];
        }
        long Figure(string name) => figures.TryGetValue(name, out var value) ? value
            : throw new InvalidDataException($"stats.lua gave no '{name}'.");
        var depth = Figure("depth");
        telemetry.QueueDepth(depth);
        return new QueueStats(depth, Figure("scheduled"), Figure("dead_letter"), Figure("worked"), Figure("failed"), Figure("paused") == 1,
            Figure("leases"), Figure("recovered"), Figure("unfinished_bytes"), Figure("dead_letter_dropped"), Figure("cancelled"), Figure("schedules"));
    }

    /// <summary>One page of the dead letter, newest first.</summary>
    public Task<JobPage> GetFailedAsync(int offset, int limit) => GetPageAsync(Keys.Failed, offset, limit);

    /// <summary>One page of the cancelled jobs (until their records expire), newest first.</summary>
    public Task<JobPage> GetCancelledAsync(int offset, int limit) => GetPageAsync(Keys.Cancelled, offset, limit);

    private async Task<JobPage> GetPageAsync(string list, int offset, int limit)
    {
        var result = (RedisResult[])(await scripts.FailedPage.EvaluateAsync(Db, _pageKeys.Keys(("list", list)), [offset, limit], commit)
            .ConfigureAwait(false))!;
        var jobs = new List<JobView>((result.Length - 1) / 2);
        for (var i = 1; i + 1 < result.Length; i += 2)
        {
            jobs.Add(new JobView((string)result[i]!, ParseRecord((string)result[i + 1]!), null));
        }
        return new JobPage((long)result[0], jobs);
    }

    /// <summary>Deletes finished jobs whose TTL has passed; returns how many (at most one batch).</summary>
    public async Task<long> PurgeExpiredAsync() =>
        (long)await scripts.Purge.EvaluateAsync(Db, _purgeKeys.Keys(),
            [PurgeBatch, (long)WebhookHold.TotalMilliseconds, (long)WebhookHoldAtMost.TotalMilliseconds], commit).ConfigureAwait(false);

    /// <summary>
    /// One slice of a repair pass (see <c>Scripts/repair.lua</c>): after the store restarted (its run id is not the one the
    /// last pass saw), the records are read a slice at a time and the indexes mended where a crash left them out of line.
    /// Returns whether a pass is under way (call again) and how many records this slice repaired.
    /// </summary>
    public async Task<(bool More, long Repaired)> RepairAsync(string storeRunId)
    {
        var result = (RedisResult[])(await scripts.Repair.EvaluateAsync(Db, _repairKeys.Keys(),
            [storeRunId, RepairSlice, PriorityAgingMs, LeaseTtlMs, ResultTtlMs, (long)Options.FailedTtl.TotalMilliseconds], commit)
            .ConfigureAwait(false))!;
        return ((long)result[0] == 1, (long)result[1]);
    }

    private const int RepairSlice = 500;

    /// <summary>The store's run id (<c>INFO server</c>): a new one each time the store process starts.</summary>
    public async Task<string> GetStoreRunIdAsync()
    {
        var info = (string?)await Db.ExecuteAsync("INFO", "server").ConfigureAwait(false) ?? "";
        foreach (var line in info.Split('\n'))
        {
            if (line.StartsWith("run_id:", StringComparison.Ordinal))
            {
                return line["run_id:".Length..].Trim();
            }
        }
        throw new InvalidDataException("The store's INFO server has no run_id.");
    }

    /// <summary>
    /// Takes (or keeps) the turn at maintenance duty <paramref name="duty"/> for <paramref name="runner"/>: true for one
    /// runner at a time across every process that serves the queue. The holder keeps it while it takes it every
    /// <paramref name="tick"/>; it lapses two ticks after the holder's last take, and then the first runner to ask has it.
    /// </summary>
    public async Task<bool> TakeMaintenanceTurnAsync(string duty, string runner, TimeSpan tick) =>
        (long)await scripts.Turn.EvaluateAsync(Db, _turnKeys.Keys(("turn", Keys.MaintenanceTurn(duty))),
            [runner, (long)(2 * tick).TotalMilliseconds], commit).ConfigureAwait(false) == 1;

    /// <summary>
    /// Records how a run of upkeep duty <paramref name="duty"/> by <paramref name="runner"/> went (on the store's clock),
    /// for <see cref="GetMaintenanceAsync"/>.
    /// </summary>
    public Task RecordMaintenanceAsync(string duty, string runner, bool ok, string? error, TimeSpan took) =>
        scripts.Maintained.EvaluateAsync(Db, _maintainedKeys.Keys(),
            [duty, runner, ok ? "1" : "0", error is null ? "" : ErrorText.Bound(error), (long)took.TotalMilliseconds], commit);

    /// <summary>How the last recorded run of each upkeep duty went, with the store's time now (to tell how long ago).</summary>
    public async Task<(DateTimeOffset Now, IReadOnlyList<MaintenanceRun> Runs)> GetMaintenanceAsync()
    {
        var result = (RedisResult[])(await scripts.Maintenance.EvaluateAsync(Db, _maintenanceKeys.Keys(), [], commit).ConfigureAwait(false))!;
        var runs = new List<MaintenanceRun>((result.Length - 1) / 2);
        for (var i = 1; i + 1 < result.Length; i += 2)
        {
            var run = JsonSerializer.Deserialize((string)result[i + 1]!, QueueJson.Default.MaintenanceRun);
            if (run is not null)
            {
                runs.Add(run with { Duty = (string)result[i]! });
            }
        }
        runs.Sort((a, b) => string.CompareOrdinal(a.Duty, b.Duty));
        return (DateTimeOffset.FromUnixTimeMilliseconds((long)result[0]), runs);
    }

    /// <summary>Number of jobs ready, waiting for a worker of either kind (also what the queue-depth gauge reports next).</summary>
    public async Task<long> GetQueueLengthAsync()
    {
        var dotnet = Db.SortedSetLengthAsync(Keys.Ready);
        var http = Db.SortedSetLengthAsync(Keys.HttpReady);
        var depth = await dotnet.ConfigureAwait(false) + await http.ConfigureAwait(false);
        telemetry.QueueDepth(depth);
        return depth;
    }

    /// <summary>How long the purge keeps a job past its TTL, each time it finds its webhook still being delivered.</summary>
    private static readonly TimeSpan WebhookHold = TimeSpan.FromMinutes(1);

    /// <summary>The longest the purge keeps a finished job for its webhook (past it, the record goes with its delivery).</summary>
    private static readonly TimeSpan WebhookHoldAtMost = TimeSpan.FromDays(1);

    private long ResultTtlMs => (long)Options.ResultTtl.TotalMilliseconds;

    private long LeaseTtlMs => (long)Options.LeaseTtl.TotalMilliseconds;

    private long PriorityAgingMs => (long)Options.PriorityAging.TotalMilliseconds;

    /// <summary>The jobs of a claim's, a lease's or a recovery's reply, from element <paramref name="first"/>: id, token, record, data for each.</summary>
    private ClaimedJob[] ReadClaimed(RedisResult[] result, int first)
    {
        var jobs = new ClaimedJob[(result.Length - first) / 4];
        for (var i = 0; i < jobs.Length; i++)
        {
            var at = first + 4 * i;
            var record = ParseRecord((string)result[at + 2]!);
            jobs[i] = new ClaimedJob(new JobLease((string)result[at]!, (string)result[at + 1]!), record, (string)result[at + 3]!);
            var readySince = record.RunAt is { } runAt && runAt > record.CreatedAt ? runAt : record.CreatedAt;
            telemetry.QueueWait(record.Type, TimeSpan.FromMilliseconds((record.StartedAt ?? readySince) - readySince));
        }
        return jobs;
    }

    private static string ClaimSalt() => Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(4));

    private static JobRecord ParseRecord(string json) =>
        JsonSerializer.Deserialize(json, QueueJson.Default.JobRecord)
        ?? throw new InvalidDataException("A job record in Redis is not valid JSON.");
}
