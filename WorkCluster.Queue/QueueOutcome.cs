using StackExchange.Redis;

namespace WorkCluster.Queue;

/// <summary>
/// What an operation of the queue did: one vocabulary for every script's answer (a submission, an attempt's end, a
/// cancellation, a retry from the dead letter, a webhook attempt, a schedule), so that the API's problem details, the
/// worker and the HTTP lease protocol read the same words. Each operation answers only some of them (its documentation
/// says which). The scripts answer each as its snake_case name (<see cref="QueueOutcomes.Parse"/>).
/// </summary>
public enum QueueOutcome
{
    /// <summary>A new job (or schedule) was made.</summary>
    Created,

    /// <summary>The job was made before (an Idempotency-Key used with the same request, an occurrence fired already): nothing new.</summary>
    Replayed,

    /// <summary>A schedule of that name existed: it is replaced.</summary>
    Replaced,

    /// <summary>The Idempotency-Key had been used with a different request: nothing queued.</summary>
    KeyConflict,

    /// <summary>The queue holds <see cref="QueueOptions.MaxQueueLength"/> unfinished jobs: nothing queued.</summary>
    QueueFull,

    /// <summary>The unfinished jobs' payloads would pass <see cref="QueueOptions.MaxQueueBytes"/>: nothing queued.</summary>
    QueueBytesFull,

    /// <summary>It would fall due further ahead than <see cref="QueueOptions.MaxDelay"/> (by Redis's clock): nothing queued.</summary>
    TooFarAhead,

    /// <summary>The cluster holds <see cref="Schedules.ScheduleOptions.MaxSchedules"/> schedules already: nothing stored.</summary>
    TooMany,

    /// <summary>The cron expression has no occurrence after now: nothing stored.</summary>
    NeverOccurs,

    /// <summary>The result is stored; the job is worked.</summary>
    Worked,

    /// <summary>The attempt failed and a retry is scheduled.</summary>
    RetryScheduled,

    /// <summary>That was the last attempt (or no retry was wanted): the job is failed, in the dead letter.</summary>
    DeadLettered,

    /// <summary>The result was larger than <see cref="QueueOptions.MaxResultBytes"/>: not stored; the job failed for good, saying so.</summary>
    ResultTooLarge,

    /// <summary>The job (or webhook attempt) went back to its place, its attempt not counted.</summary>
    Released,

    /// <summary>The job ended cancelled (it was waiting, or its cancellation had been requested).</summary>
    Cancelled,

    /// <summary>The job is being worked: its worker is asked to stop it.</summary>
    Cancelling,

    /// <summary>A failed job is back in the queue.</summary>
    Queued,

    /// <summary>The webhook was delivered.</summary>
    Delivered,

    /// <summary>The webhook was not delivered, and that was its last attempt.</summary>
    Failed,

    /// <summary>
    /// The caller's view was out of date, so nothing changed: the attempt no longer held the job's lease (it lapsed and the
    /// job moved on), the webhook attempt its delivery, the schedule runner the cursor it read.
    /// </summary>
    Stale,

    /// <summary>No such job (or its TTL has passed).</summary>
    NotFound,

    /// <summary>The job had already finished (worked, failed or cancelled): nothing changed.</summary>
    AlreadyFinished,

    /// <summary>The job is not failed: there is nothing to retry.</summary>
    NotFailed,

    /// <summary>The schedule's occurrence has not come yet (on Redis's clock).</summary>
    NotDue,

    /// <summary>The schedule's occurrences were missed and skipped (its catch-up policy): no job made.</summary>
    Skipped,
}

/// <summary>The one mapping between the scripts' answers and <see cref="QueueOutcome"/>.</summary>
public static class QueueOutcomes
{
    /// <summary>The outcome a script answered by its name (<c>created</c>, <c>key_conflict</c>, ...).</summary>
    /// <exception cref="InvalidDataException">The answer is not an outcome's name.</exception>
    public static QueueOutcome Parse(RedisValue answer) => (string?)answer switch
    {
        "created" => QueueOutcome.Created,
        "replayed" => QueueOutcome.Replayed,
        "replaced" => QueueOutcome.Replaced,
        "key_conflict" => QueueOutcome.KeyConflict,
        "queue_full" => QueueOutcome.QueueFull,
        "queue_bytes_full" => QueueOutcome.QueueBytesFull,
        "too_far_ahead" => QueueOutcome.TooFarAhead,
        "too_many" => QueueOutcome.TooMany,
        "never_occurs" => QueueOutcome.NeverOccurs,
        "worked" => QueueOutcome.Worked,
        "retry_scheduled" => QueueOutcome.RetryScheduled,
        "dead_lettered" => QueueOutcome.DeadLettered,
        "result_too_large" => QueueOutcome.ResultTooLarge,
        "released" => QueueOutcome.Released,
        "cancelled" => QueueOutcome.Cancelled,
        "cancelling" => QueueOutcome.Cancelling,
        "queued" => QueueOutcome.Queued,
        "delivered" => QueueOutcome.Delivered,
        "failed" => QueueOutcome.Failed,
        "stale" => QueueOutcome.Stale,
        "not_found" => QueueOutcome.NotFound,
        "already_finished" => QueueOutcome.AlreadyFinished,
        "not_failed" => QueueOutcome.NotFailed,
        "not_due" => QueueOutcome.NotDue,
        "skipped" => QueueOutcome.Skipped,
        var other => throw new InvalidDataException($"A queue script answered '{other}', which is not an outcome."),
    };

    /// <summary>The outcome's name as the scripts (and the HTTP lease protocol) write it: snake_case.</summary>
    public static string Name(this QueueOutcome outcome) => outcome switch
    {
        QueueOutcome.Created => "created",
        QueueOutcome.Replayed => "replayed",
        QueueOutcome.Replaced => "replaced",
        QueueOutcome.KeyConflict => "key_conflict",
        QueueOutcome.QueueFull => "queue_full",
        QueueOutcome.QueueBytesFull => "queue_bytes_full",
        QueueOutcome.TooFarAhead => "too_far_ahead",
        QueueOutcome.TooMany => "too_many",
        QueueOutcome.NeverOccurs => "never_occurs",
        QueueOutcome.Worked => "worked",
        QueueOutcome.RetryScheduled => "retry_scheduled",
        QueueOutcome.DeadLettered => "dead_lettered",
        QueueOutcome.ResultTooLarge => "result_too_large",
        QueueOutcome.Released => "released",
        QueueOutcome.Cancelled => "cancelled",
        QueueOutcome.Cancelling => "cancelling",
        QueueOutcome.Queued => "queued",
        QueueOutcome.Delivered => "delivered",
        QueueOutcome.Failed => "failed",
        QueueOutcome.Stale => "stale",
        QueueOutcome.NotFound => "not_found",
        QueueOutcome.AlreadyFinished => "already_finished",
        QueueOutcome.NotFailed => "not_failed",
        QueueOutcome.NotDue => "not_due",
        QueueOutcome.Skipped => "skipped",
        _ => throw new ArgumentOutOfRangeException(nameof(outcome), outcome, null),
    };
}
