using System.ComponentModel.DataAnnotations;

namespace WorkCluster.Queue;

/// <summary>Settings of the work queue, bound from the <c>Work</c> configuration section.</summary>
public sealed class QueueOptions
{
    public const string SectionName = "Work";

    /// <summary>Every Redis key of the queue starts with <c>{KeyPrefix}:</c> (in braces: one Redis Cluster slot).</summary>
    [Required, RegularExpression("^[A-Za-z0-9_.-]{1,32}$")]
    public string KeyPrefix { get; set; } = "wc";

    /// <summary>How long a worked job and its result stay readable.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "365.00:00:00")]
    public TimeSpan ResultTtl { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>How long a failed job stays readable.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "365.00:00:00")]
    public TimeSpan FailedTtl { get; set; } = TimeSpan.FromDays(7);
}
