using System.Text.Json;
using System.Text.Json.Serialization;
using WorkCluster.Queue;

namespace WorkCluster.Api.Apis;

/// <summary>The body of POST /api/v1/work.</summary>
/// <param name="Data">Any JSON value: the input of the work.</param>
/// <param name="Type">The work type; the default type when absent.</param>
/// <param name="Priority">0 to 9, higher first; 5 when absent.</param>
/// <param name="DelayMs">Run no sooner than this many milliseconds from now (Redis's clock). Not with <paramref name="RunAt"/>.</param>
/// <param name="RunAt">Run no sooner than this time (RFC 3339). Not with <paramref name="DelayMs"/>.</param>
/// <param name="CallbackUrl">An http(s) URL to POST the final status to when the work ends (a signed webhook).</param>
public sealed record WorkRequest(
    [property: JsonPropertyName("data")] JsonElement Data,
    [property: JsonPropertyName("type")] string? Type = null,
    [property: JsonPropertyName("priority")] int? Priority = null,
    [property: JsonPropertyName("delay_ms")] long? DelayMs = null,
    [property: JsonPropertyName("run_at")] DateTimeOffset? RunAt = null,
    [property: JsonPropertyName("callback_url")] string? CallbackUrl = null);

/// <summary>The answer to an accepted submission.</summary>
/// <param name="Status">Always <c>accepted</c>.</param>
/// <param name="AcceptedBy">The API instance that took the work.</param>
/// <param name="Callback">The job id: GET /api/v1/work/{callback} tells its status.</param>
/// <param name="TraceId">The trace that follows the job from this request to the worker (OpenTelemetry).</param>
public sealed record WorkAccepted(
    [property: JsonPropertyName("status")] string Status,
    [property: JsonPropertyName("accepted_by")] string AcceptedBy,
    [property: JsonPropertyName("callback")] string Callback,
    [property: JsonPropertyName("trace_id")] string? TraceId);

/// <summary>A job's status, and its result once worked.</summary>
public sealed record WorkStatus
{
    [JsonPropertyName("id")] public required string Id { get; init; }
    [JsonPropertyName("status")] public required JobStatus Status { get; init; }
    [JsonPropertyName("type")] public required string Type { get; init; }
    [JsonPropertyName("accepted_by")] public string? AcceptedBy { get; init; }
    [JsonPropertyName("worker")] public string? Worker { get; init; }
    [JsonPropertyName("priority")] public int Priority { get; init; }
    [JsonPropertyName("attempts")] public int Attempts { get; init; }
    [JsonPropertyName("created_at")] public DateTimeOffset CreatedAt { get; init; }
    [JsonPropertyName("started_at")] public DateTimeOffset? StartedAt { get; init; }
    [JsonPropertyName("finished_at")] public DateTimeOffset? FinishedAt { get; init; }
    [JsonPropertyName("run_at")] public DateTimeOffset? RunAt { get; init; }
    [JsonPropertyName("retry_at")] public DateTimeOffset? RetryAt { get; init; }
    [JsonPropertyName("lease_expires_at")] public DateTimeOffset? LeaseExpiresAt { get; init; }
    [JsonPropertyName("cancel_requested_at")] public DateTimeOffset? CancelRequestedAt { get; init; }
    [JsonPropertyName("schedule")] public string? Schedule { get; init; }
    [JsonPropertyName("occurrence")] public DateTimeOffset? Occurrence { get; init; }
    [JsonPropertyName("last_error")] public string? LastError { get; init; }
    [JsonPropertyName("trace_id")] public string? TraceId { get; init; }
    [JsonPropertyName("progress")] public WorkProgress? Progress { get; init; }
    [JsonPropertyName("callback_url")] public string? CallbackUrl { get; init; }
    [JsonPropertyName("webhook")] public WebhookDelivery? Webhook { get; init; }
    [JsonPropertyName("result")] public JsonElement? Result { get; init; }

    /// <summary>Whether the job has reached its end (worked, failed for good, cancelled).</summary>
    [JsonIgnore] public bool IsFinal => Status is JobStatus.Worked or JobStatus.Failed or JobStatus.Cancelled;

    public static WorkStatus From(JobView job) => new()
    {
        Id = job.Id,
        Status = job.Record.Status,
        Type = job.Record.Type,
        AcceptedBy = job.Record.AcceptedBy,
        Worker = job.Record.Worker,
        Priority = job.Record.Priority,
        Attempts = job.Record.Attempts,
        CreatedAt = DateTimeOffset.FromUnixTimeMilliseconds(job.Record.CreatedAt),
        StartedAt = ToTime(job.Record.StartedAt),
        FinishedAt = ToTime(job.Record.FinishedAt),
        RunAt = ToTime(job.Record.RunAt),
        RetryAt = ToTime(job.Record.RetryAt),
        LeaseExpiresAt = job.Record.Status == JobStatus.Working ? ToTime(job.LeaseExpiresAt) : null,
        CancelRequestedAt = ToTime(job.Record.CancelRequestedAt),
        Schedule = job.Record.Schedule,
        Occurrence = ToTime(job.Record.Occurrence),
        LastError = job.Record.LastError,
        TraceId = job.Record.TraceId,
        Progress = job.Record.Progress is { } progress
            ? new WorkProgress(progress.Percent, progress.Message, DateTimeOffset.FromUnixTimeMilliseconds(progress.At))
            : null,
        CallbackUrl = job.Record.CallbackUrl,
        Webhook = job.Record.Webhook is { } webhook
            ? new WebhookDelivery(webhook.Status, webhook.Attempts, webhook.LastStatus, webhook.LastError, webhook.Worker,
                ToTime(webhook.NextAttemptAt), ToTime(webhook.DeliveredAt))
            : null,
        Result = job.Result is null ? null : JsonElement.Parse(job.Result),
    };

    private static DateTimeOffset? ToTime(long? ms) => ms is { } value ? DateTimeOffset.FromUnixTimeMilliseconds(value) : null;
}

/// <summary>How far a running job has come, as its handler last reported.</summary>
public sealed record WorkProgress(
    [property: JsonPropertyName("percent")] double? Percent,
    [property: JsonPropertyName("message")] string? Message,
    [property: JsonPropertyName("at")] DateTimeOffset At);

/// <summary>The delivery of a finished job's webhook.</summary>
/// <param name="Status"><c>pending</c> (an attempt is due or running), <c>delivered</c> or <c>failed</c> (every attempt failed).</param>
/// <param name="Attempts">Attempts made so far.</param>
/// <param name="LastStatus">The HTTP status of the receiver's last answer, if it gave one.</param>
/// <param name="LastError">Why the last attempt failed.</param>
/// <param name="Worker">The worker that made the last attempt.</param>
/// <param name="NextAttemptAt">When the next attempt is due, while one is waiting.</param>
/// <param name="DeliveredAt">When the receiver took it.</param>
public sealed record WebhookDelivery(
    [property: JsonPropertyName("status")] WebhookStatus Status,
    [property: JsonPropertyName("attempts")] int Attempts,
    [property: JsonPropertyName("last_status")] int? LastStatus,
    [property: JsonPropertyName("last_error")] string? LastError,
    [property: JsonPropertyName("worker")] string? Worker,
    [property: JsonPropertyName("next_attempt_at")] DateTimeOffset? NextAttemptAt,
    [property: JsonPropertyName("delivered_at")] DateTimeOffset? DeliveredAt);

/// <summary>The answer to a cancellation (DELETE /api/v1/work/{id}).</summary>
/// <param name="Status"><c>cancelled</c> (the job was waiting: it will never start) or <c>cancelling</c> (its worker is
/// asked to stop it; GET tells when it is <c>cancelled</c>).</param>
/// <param name="Id">The job.</param>
/// <param name="Worker">For a job being worked, the worker holding its lease.</param>
/// <param name="WorkerNotified">For a job being worked, whether the worker was told over the mesh (it stops the handler,
/// or cancels the attempt as it starts it); if not, the worker learns of it at its next lease renewal.</param>
public sealed record WorkCancellation(
    [property: JsonPropertyName("status")] string Status,
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("worker")] string? Worker = null,
    [property: JsonPropertyName("worker_notified")] bool? WorkerNotified = null);

/// <summary>A page of listed work.</summary>
/// <param name="Status">The status listed.</param>
/// <param name="Total">How many jobs have that status.</param>
/// <param name="Offset">Where this page starts.</param>
/// <param name="Limit">The page size asked for.</param>
/// <param name="Items">The jobs, newest first.</param>
/// <param name="Next">The next page, if there is one.</param>
public sealed record WorkPage(
    [property: JsonPropertyName("status")] string Status,
    [property: JsonPropertyName("total")] long Total,
    [property: JsonPropertyName("offset")] int Offset,
    [property: JsonPropertyName("limit")] int Limit,
    [property: JsonPropertyName("items")] IReadOnlyList<WorkStatus> Items,
    [property: JsonPropertyName("next")] string? Next);
