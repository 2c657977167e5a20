using System.ComponentModel.DataAnnotations;

namespace WorkCluster.Queue;

/// <summary>Settings of the work queue, bound from the <c>Work</c> configuration section.</summary>
public sealed class QueueOptions
{
    public const string SectionName = "Work";

    /// <summary>How long a worked job and its result stay readable.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "365.00:00:00")]
    public TimeSpan ResultTtl { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>How long a failed job stays readable (and retryable) in the dead letter.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "365.00:00:00")]
    public TimeSpan FailedTtl { get; set; } = TimeSpan.FromDays(7);

    /// <summary>Attempts a job gets (first run included) before it fails for good.</summary>
    [Range(1, 1000)]
    public int MaxAttempts { get; set; } = 5;

    /// <summary>Ceiling of the first retry's delay; each retry doubles it, up to <see cref="RetryMaxDelay"/>.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "1.00:00:00")]
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The longest a retry waits.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "7.00:00:00")]
    public TimeSpan RetryMaxDelay { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Unfinished jobs (waiting, waiting for a retry, or being worked) the queue holds before submissions are
    /// refused (429).
    /// </summary>
    [Range(1, int.MaxValue)]
    public int MaxQueueLength { get; set; } = 100_000;

    /// <summary>Payload bytes of unfinished jobs the queue holds before submissions are refused (429).</summary>
    [Range(1024L, long.MaxValue)]
    public long MaxQueueBytes { get; set; } = 256L * 1024 * 1024;

    /// <summary>The largest result one job may have (bytes of its JSON): a larger one fails the job for good, nothing stored.</summary>
    [Range(16, int.MaxValue)]
    public int MaxResultBytes { get; set; } = 1024 * 1024;

    /// <summary>
    /// Bytes of results the store keeps in all: past it, the worked jobs whose TTL ends first go early (counted as results
    /// dropped), so that results cannot fill the store. At least <see cref="MaxResultBytes"/>.
    /// </summary>
    [Range(1024L, long.MaxValue)]
    public long MaxResultsBytes { get; set; } = 256L * 1024 * 1024;

    /// <summary>Failed jobs the dead letter keeps; past it, the oldest are dropped (and counted).</summary>
    [Range(1, int.MaxValue)]
    public int MaxFailed { get; set; } = 10_000;

    /// <summary>Payload bytes the dead letter keeps (for retries); past it, the oldest entries are dropped.</summary>
    [Range(1024L, long.MaxValue)]
    public long MaxFailedBytes { get; set; } = 128L * 1024 * 1024;

    /// <summary>
    /// How long a claimed job's lease lasts without renewal. The worker renews the leases of the jobs it runs every
    /// third of it; a lease that lapses (the worker died, froze or lost Redis) is taken back by the sweep.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.300", "01:00:00")]
    public TimeSpan LeaseTtl { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// After a gap in the sweep (Redis, or every worker, was away for a third of a lease), the sweep waits one
    /// <see cref="LeaseTtl"/> plus this before it takes any lease back: time for the living workers to reconnect
    /// (their client backs off up to 5 s) and renew the leases that lapsed while nobody could.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")]
    public TimeSpan LeaseOutageGrace { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// What one level of priority is worth in waiting: a job waits at most (its priority's distance from the highest,
    /// 9) × this longer than a job of priority 9 that became ready at the same time, so no priority starves.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "1.00:00:00")]
    public TimeSpan PriorityAging { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>How far ahead a job may be scheduled (<c>delay_ms</c>, <c>run_at</c>).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "3650.00:00:00")]
    public TimeSpan MaxDelay { get; set; } = TimeSpan.FromDays(30);

    /// <summary>
    /// How long the handler of a job whose cancellation was requested may take to stop before its lease is revoked (the
    /// job ends cancelled and whatever the attempt records later is stale). Longer than a lease renewal interval, so
    /// that a worker the mesh could not tell learns of it at its next renewal and still stops cleanly.
    /// </summary>
    [Range(0, 3_600_000)]
    public int CancelGraceMs { get; set; } = 15_000;

    /// <summary>How long a handler may run before its attempt fails as timed out (the same setting the workers time handlers by).</summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "7.00:00:00")]
    public TimeSpan Timeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Per-type overrides of <see cref="Timeout"/> (<c>Work:Timeouts:sha256=00:00:10</c>).</summary>
    public Dictionary<string, TimeSpan> Timeouts { get; set; } = new(StringComparer.Ordinal);

    /// <summary>
    /// How much longer than its timeout an attempt keeps its lease: a handler that ignores the cancellation at its timeout
    /// (or an HTTP worker that keeps renewing) is abandoned then, its lease no longer renewed; once it lapses the job is
    /// retried, or fails for good on its last attempt.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "1.00:00:00")]
    public TimeSpan TimeoutGrace { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>The timeout of work type <paramref name="type"/>.</summary>
    public TimeSpan TimeoutFor(string type) => Timeouts.TryGetValue(type, out var timeout) ? timeout : Timeout;

    /// <summary>
    /// Group commit: the most submissions (or completions) one script call carries. Calls that arrive while earlier
    /// ones are on their way to Redis leave together, with no waiting for company; 1 sends every call alone.
    /// </summary>
    [Range(1, 1000)]
    public int MaxBatch { get; set; } = 100;

    /// <summary>How often a worker renews its leases: every third of <see cref="LeaseTtl"/>.</summary>
    public TimeSpan LeaseRenewInterval => LeaseTtl / 3;

    /// <summary>No sweep for this long is a gap (see <see cref="LeaseOutageGrace"/>): a third of the lease, 1 s at least.</summary>
    public TimeSpan SweepGap => LeaseTtl / 3 > TimeSpan.FromSeconds(1) ? LeaseTtl / 3 : TimeSpan.FromSeconds(1);
}
