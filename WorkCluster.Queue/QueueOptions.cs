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

    /// <summary>Pending jobs the queue holds before submissions are refused (429).</summary>
    [Range(1, int.MaxValue)]
    public int MaxQueueLength { get; set; } = 100_000;
}
