using System.Text.Json.Serialization;

namespace WorkCluster.Queue;

/// <summary>Where a job is in its life.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<JobStatus>))]
public enum JobStatus
{
    /// <summary>Queued, waiting for a worker.</summary>
    [JsonStringEnumMemberName("pending")] Pending,

    /// <summary>A worker is running it.</summary>
    [JsonStringEnumMemberName("working")] Working,

    /// <summary>Done; the result is readable until the result TTL ends.</summary>
    [JsonStringEnumMemberName("worked")] Worked,

    /// <summary>Given up; the error is readable until the failed TTL ends.</summary>
    [JsonStringEnumMemberName("failed")] Failed,
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
    [JsonPropertyName("trace")] public string? TraceParent { get; init; }

    /// <summary>The trace id of the job's journey (from <see cref="TraceParent"/>).</summary>
    [JsonIgnore] public string? TraceId => TraceIds.FromTraceParent(TraceParent);
}

/// <summary>A job as a reader sees it: its record and, once worked, its result (JSON text).</summary>
public sealed record JobView(string Id, JobRecord Record, string? Result);

/// <summary>A job a worker has claimed: its record and the submitted data (JSON text).</summary>
public sealed record ClaimedJob(string Id, JobRecord Record, string Data);

/// <summary>How a submission ended.</summary>
public enum EnqueueOutcome
{
    /// <summary>A new job was queued.</summary>
    Created,

    /// <summary>The Idempotency-Key had been used with the same request: the earlier job is returned, nothing queued.</summary>
    Replayed,

    /// <summary>The Idempotency-Key had been used with a different request: nothing queued.</summary>
    KeyConflict,

    /// <summary>The queue holds <see cref="QueueOptions.MaxQueueLength"/> jobs: nothing queued.</summary>
    QueueFull,
}

/// <summary>
/// The answer to a submission: what happened, which job it concerns (none when the queue was full), who accepted
/// it and the W3C trace parent stored with it.
/// </summary>
public sealed record EnqueueResult(EnqueueOutcome Outcome, string? Id, string? AcceptedBy, string? TraceParent = null)
{
    /// <summary>The trace id of the job's journey (from <see cref="TraceParent"/>).</summary>
    public string? TraceId => TraceIds.FromTraceParent(TraceParent);
}

/// <summary>The queue at a glance.</summary>
/// <param name="Depth">Jobs waiting in the queue.</param>
/// <param name="Scheduled">Jobs waiting for a retry.</param>
/// <param name="DeadLetter">Failed jobs kept in the dead letter.</param>
/// <param name="Worked">Jobs worked, in total.</param>
/// <param name="Failed">Jobs failed for good, in total.</param>
/// <param name="Paused">Whether workers are told not to claim.</param>
public sealed record QueueStats(long Depth, long Scheduled, long DeadLetter, long Worked, long Failed, bool Paused);

public static class TraceIds
{
    /// <summary>The trace id part of a W3C <c>traceparent</c> (<c>00-traceid-spanid-flags</c>), or null.</summary>
    public static string? FromTraceParent(string? traceParent) =>
        traceParent is { Length: 55 } && traceParent[2] == '-' ? traceParent.Substring(3, 32) : null;
}

/// <summary>What became of a failed attempt.</summary>
public enum FailOutcome
{
    /// <summary>The attempt was not this worker's to record (the job had moved on).</summary>
    Stale,

    /// <summary>A retry is scheduled.</summary>
    RetryScheduled,

    /// <summary>That was the last attempt: the job is failed, in the dead letter.</summary>
    DeadLettered,
}

/// <summary>What recovering a dead worker's jobs did.</summary>
public sealed record RecoveryResult(bool WorkerAlive, int Requeued, int Failed);

/// <summary>A page of the dead letter, newest first.</summary>
public sealed record FailedPage(long Total, IReadOnlyList<JobView> Jobs);

/// <summary>What asking for a failed job's retry did.</summary>
public enum RetryOutcome
{
    Queued,
    NotFound,
    NotFailed,
}
