using System.Text.Json.Serialization;

namespace WorkCluster.Queue;

/// <summary>Where a job is in its life.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<JobStatus>))]
public enum JobStatus
{
    /// <summary>Delayed: waits in the schedule until its <c>run_at</c>.</summary>
    [JsonStringEnumMemberName("scheduled")] Scheduled,

    /// <summary>Queued, waiting for a worker (or for its retry's delay: see <c>retry_at</c>).</summary>
    [JsonStringEnumMemberName("pending")] Pending,

    /// <summary>A worker is running it.</summary>
    [JsonStringEnumMemberName("working")] Working,

    /// <summary>Done; the result is readable until the result TTL ends.</summary>
    [JsonStringEnumMemberName("worked")] Worked,

    /// <summary>Given up; the error is readable until the failed TTL ends.</summary>
    [JsonStringEnumMemberName("failed")] Failed,

    /// <summary>Cancelled by request (before it started, or its handler stopped); readable until the result TTL ends.</summary>
    [JsonStringEnumMemberName("cancelled")] Cancelled,
}

/// <summary>
/// A job's record as the Lua scripts store it in the jobs hash (JSON, times in ms since the epoch on the
/// Redis server's clock).
/// </summary>
public sealed record JobRecord
{
    [JsonPropertyName("status")] public JobStatus Status { get; init; }
    [JsonPropertyName("type")] public string Type { get; init; } = "";
    [JsonPropertyName("accepted_by")] public string? AcceptedBy { get; init; }
    [JsonPropertyName("worker")] public string? Worker { get; init; }
    [JsonPropertyName("attempts")] public int Attempts { get; init; }
    [JsonPropertyName("created_at")] public long CreatedAt { get; init; }
    [JsonPropertyName("started_at")] public long? StartedAt { get; init; }
    [JsonPropertyName("finished_at")] public long? FinishedAt { get; init; }
    [JsonPropertyName("retry_at")] public long? RetryAt { get; init; }
    [JsonPropertyName("last_error")] public string? LastError { get; init; }
    [JsonPropertyName("idempotency_key")] public string? IdempotencyKey { get; init; }
    /// <summary>Who submitted it (the API key's name), when the submitter is known.</summary>
    [JsonPropertyName("owner")] public string? Owner { get; init; }

    /// <summary>'http' when the job waits for workers of the HTTP lease protocol (see <see cref="JobOptions.HttpLane"/>).</summary>
    [JsonPropertyName("lane")] public string? Lane { get; init; }
    [JsonPropertyName("trace")] public string? TraceParent { get; init; }
    [JsonPropertyName("lease")] public string? Lease { get; init; }
    /// <summary>As stored: the scripts leave the default priority out of the record.</summary>
    [JsonPropertyName("priority")] public int? StoredPriority { get; init; }
    [JsonPropertyName("run_at")] public long? RunAt { get; init; }
    [JsonPropertyName("cancel_requested_at")] public long? CancelRequestedAt { get; init; }
    [JsonPropertyName("schedule")] public string? Schedule { get; init; }
    [JsonPropertyName("occurrence")] public long? Occurrence { get; init; }

    /// <summary>
    /// 0–9, higher first. (Not an init-only property with an initializer: the source-generated reader assigns every
    /// init-only property, so a record without the field would read as 0.)
    /// </summary>
    /// <summary>How far the running attempt has come, as its handler last reported (cleared when the job is worked).</summary>
    [JsonPropertyName("progress")] public JobProgress? Progress { get; init; }

    /// <summary>Where the job's final status is POSTed when it ends (a webhook), if the client asked for it.</summary>
    [JsonPropertyName("callback_url")] public string? CallbackUrl { get; init; }

    /// <summary>The delivery of the webhook, once the job with a <see cref="CallbackUrl"/> has ended.</summary>
    [JsonPropertyName("webhook")] public WebhookState? Webhook { get; init; }

    [JsonIgnore] public int Priority => StoredPriority ?? JobOptions.DefaultPriority;

    /// <summary>The trace id of the job's journey (from <see cref="TraceParent"/>).</summary>
    [JsonIgnore] public string? TraceId => TraceIds.FromTraceParent(TraceParent);
}

/// <summary>
/// A job as a reader sees it: its record, once worked its result (JSON text), and while it is worked the time (ms
/// since the epoch, Redis's clock) its lease lapses unless renewed.
/// </summary>
/// <summary>A handler's report of how far its attempt has come.</summary>
public sealed record JobProgress
{
    /// <summary>0 to 100, if the handler knows.</summary>
    [JsonPropertyName("percent")] public double? Percent { get; init; }

    [JsonPropertyName("message")] public string? Message { get; init; }

    /// <summary>When it was reported (ms since the epoch, Redis's clock).</summary>
    [JsonPropertyName("at")] public long At { get; init; }
}

[JsonConverter(typeof(JsonStringEnumConverter<WebhookStatus>))]
public enum WebhookStatus
{
    /// <summary>Not delivered yet: an attempt is due or running.</summary>
    [JsonStringEnumMemberName("pending")] Pending,

    /// <summary>The receiver answered 2xx.</summary>
    [JsonStringEnumMemberName("delivered")] Delivered,

    /// <summary>Every attempt failed (<c>Webhooks:MaxAttempts</c>).</summary>
    [JsonStringEnumMemberName("failed")] Failed,
}

/// <summary>The delivery of a job's webhook (in its record, written by <c>webhook_claim.lua</c> and <c>webhook_done.lua</c>).</summary>
public sealed record WebhookState
{
    [JsonPropertyName("status")] public WebhookStatus Status { get; init; }
    [JsonPropertyName("attempts")] public int Attempts { get; init; }

    /// <summary>The HTTP status of the last answer, if there was one.</summary>
    [JsonPropertyName("last_status")] public int? LastStatus { get; init; }
    [JsonPropertyName("last_error")] public string? LastError { get; init; }

    /// <summary>The worker that made (or makes) the last attempt.</summary>
    [JsonPropertyName("worker")] public string? Worker { get; init; }
    [JsonPropertyName("attempted_at")] public long? AttemptedAt { get; init; }
    [JsonPropertyName("next_attempt_at")] public long? NextAttemptAt { get; init; }
    [JsonPropertyName("delivered_at")] public long? DeliveredAt { get; init; }
}

/// <summary>One attempt to deliver the webhook of <paramref name="Job"/>, under a lease named by <paramref name="Token"/>.</summary>
public sealed record WebhookAttempt(JobView Job, string Token, int Attempt)
{
    public string Id => Job.Id;
}

public sealed record JobView(string Id, JobRecord Record, string? Result, long? LeaseExpiresAt = null)
{
    /// <summary>Who submitted it (see <see cref="JobRecord.Owner"/>).</summary>
    public string? Owner => Record.Owner;
}

/// <summary>
/// One attempt's hold on a job: the job and the attempt's fencing token. Every outcome (complete, fail, release) and
/// every renewal carries it, and lands only while it is the job's current lease.
/// </summary>
public sealed record JobLease(string JobId, string Token);

/// <summary>A job a worker has claimed: its lease, its record (the attempt's) and the submitted data (JSON text).</summary>
public sealed record ClaimedJob(JobLease Lease, JobRecord Record, string Data)
{
    public string Id => Lease.JobId;
}

/// <summary>
/// What a claim took (the jobs, in the order of the queue), and how long until the next scheduled job falls due (null:
/// none is scheduled), so that an idle worker wakes for it.
/// </summary>
public sealed class ClaimBatch(IReadOnlyList<ClaimedJob> jobs, TimeSpan? nextDueIn) : IReadOnlyList<ClaimedJob>
{
    public TimeSpan? NextDueIn { get; } = nextDueIn;

    public int Count => jobs.Count;

    public ClaimedJob this[int index] => jobs[index];

    public IEnumerator<ClaimedJob> GetEnumerator() => jobs.GetEnumerator();

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
}

/// <summary>
/// How a job is to be run, besides its type and data: when (not before <see cref="RunAt"/>, or after
/// <see cref="Delay"/> on Redis's clock; not both), how urgently (<see cref="Priority"/>, 0–9, higher first), and the
/// client's <see cref="IdempotencyKey"/> with the <see cref="Fingerprint"/> of its request.
/// </summary>
public sealed record JobOptions
{
    public const int MinPriority = 0;
    public const int MaxPriority = 9;
    public const int DefaultPriority = 5;

    public int Priority { get; init; } = DefaultPriority;
    public TimeSpan? Delay { get; init; }
    public DateTimeOffset? RunAt { get; init; }
    public string? IdempotencyKey { get; init; }
    public string? Fingerprint { get; init; }

    /// <summary>Where to POST the job's final status when it ends (validated by the caller).</summary>
    public string? CallbackUrl { get; init; }

    /// <summary>Who submits it (the API key's name): recorded, so that only its owner (or a key that may read all work) sees it.</summary>
    public string? Owner { get; init; }

    /// <summary>
    /// Whether only workers of the HTTP lease protocol serve its type: it then waits in their ready queue
    /// (<see cref="QueueKeys.HttpReady"/>), never claimed by a .NET worker.
    /// </summary>
    public bool HttpLane { get; init; }

    public static JobOptions Default { get; } = new();
}

/// <summary>
/// The answer to a submission: what happened, which job it concerns (none when the queue was full), who accepted
/// it and the W3C trace parent stored with it.
/// </summary>
public sealed record EnqueueResult(QueueOutcome Outcome, string? Id, string? AcceptedBy, string? TraceParent = null)
{
    /// <summary>The trace id of the job's journey (from <see cref="TraceParent"/>).</summary>
    public string? TraceId => TraceIds.FromTraceParent(TraceParent);
}

/// <summary>The queue at a glance.</summary>
/// <param name="Depth">Jobs ready, waiting for a worker.</param>
/// <param name="Scheduled">Jobs scheduled: delayed, or waiting for a retry.</param>
/// <param name="DeadLetter">Failed jobs kept in the dead letter.</param>
/// <param name="Worked">Jobs worked, in total.</param>
/// <param name="Failed">Jobs failed for good, in total.</param>
/// <param name="Paused">Whether workers are told not to claim.</param>
/// <param name="Leases">Jobs being worked: leases held.</param>
/// <param name="Recovered">Leases that lapsed and were taken back by the sweep, in total.</param>
/// <param name="UnfinishedBytes">Payload bytes of the unfinished jobs (the <see cref="QueueOptions.MaxQueueBytes"/> budget's use).</param>
/// <param name="DeadLetterDropped">Dead-letter entries dropped to keep it within its bounds, in total.</param>
public sealed record QueueStats(long Depth, long Scheduled, long DeadLetter, long Worked, long Failed, bool Paused,
    long Leases, long Recovered, long UnfinishedBytes, long DeadLetterDropped, long Cancelled, long Schedules);

public static class TraceIds
{
    /// <summary>The trace id part of a W3C <c>traceparent</c> (<c>00-traceid-spanid-flags</c>), or null.</summary>
    public static string? FromTraceParent(string? traceParent) =>
        traceParent is { Length: 55 } && traceParent[2] == '-' ? traceParent.Substring(3, 32) : null;
}

/// <summary>What one lease sweep did.</summary>
/// <param name="Requeued">Jobs whose lease had lapsed, back at the head of the queue.</param>
/// <param name="DeadLettered">Jobs whose lease had lapsed on their last attempt, now failed.</param>
/// <param name="HeldBack">
/// Time the sweep still takes nothing back after a gap (Redis or every worker was away), so that living workers
/// renew first; zero when it swept.
/// </param>
public sealed record SweepResult(int Requeued, int DeadLettered, TimeSpan HeldBack, int Cancelled = 0);

/// <summary>
/// The answer to a cancellation: what it did, and for a job being worked, the worker holding its lease and the lease,
/// so that the worker can be told at once; for a finished job, the status it finished with.
/// </summary>
public sealed record CancelResult(QueueOutcome Outcome, string? Worker = null, JobLease? Lease = null, string? FinishedStatus = null);

/// <summary>
/// What a renewal found: the leases no longer held (their handlers should stop, their outcomes would be stale), and
/// the held leases of jobs whose cancellation was requested (their handlers should stop; their outcomes end the job
/// cancelled).
/// </summary>
/// <summary>Jobs leased by an HTTP worker (<see cref="WorkQueue.LeaseAsync"/>), and when their leases end on Redis's clock.</summary>
public sealed record LeaseBatch(IReadOnlyList<ClaimedJob> Jobs, DateTimeOffset ExpiresAt);

/// <summary>
/// What a renewal found: leases lost (their jobs moved on), leases held of jobs whose cancellation was requested, and
/// leases not renewed because their attempt ran past its timeout and grace (<see cref="QueueOptions.TimeoutGrace"/>).
/// </summary>
public sealed record LeaseRenewal(IReadOnlyList<JobLease> Lost, IReadOnlyList<JobLease> CancelRequested, IReadOnlyList<JobLease> Overdue)
{
    public static readonly LeaseRenewal None = new([], [], []);
}

/// <summary>A page of a list of finished jobs (the dead letter, or the cancelled jobs), newest first.</summary>
public sealed record JobPage(long Total, IReadOnlyList<JobView> Jobs);


/// <summary>How the last recorded run of one upkeep duty went (see <see cref="WorkQueue.GetMaintenanceAsync"/>).</summary>
public sealed record MaintenanceRun
{
    /// <summary>The duty (<c>sweep</c>, <c>promote</c>, <c>purge</c>, <c>repair</c>, <c>schedules</c>).</summary>
    [System.Text.Json.Serialization.JsonIgnore] public string Duty { get; init; } = "";

    /// <summary>The process that ran it.</summary>
    [JsonPropertyName("runner")] public string Runner { get; init; } = "";

    /// <summary>When it ended (ms since the epoch, the store's clock).</summary>
    [JsonPropertyName("at")] public long At { get; init; }

    /// <summary>Whether it ran to its end (false: it threw <see cref="Error"/>).</summary>
    [JsonPropertyName("ok")] public bool Ok { get; init; }

    [JsonPropertyName("error")] public string? Error { get; init; }

    /// <summary>How long it ran (ms).</summary>
    [JsonPropertyName("took_ms")] public long TookMs { get; init; }
}
