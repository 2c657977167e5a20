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

/// <summary>The answer to a submission: what happened and which job it concerns (none when the queue was full).</summary>
public sealed record EnqueueResult(EnqueueOutcome Outcome, string? Id, string? AcceptedBy);

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
