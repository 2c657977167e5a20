using System.ComponentModel.DataAnnotations;

namespace WorkCluster.Worker;

/// <summary>Settings of a worker process, from the <c>Worker</c> configuration section.</summary>
public sealed class WorkerOptions
{
    public const string SectionName = "Worker";

    /// <summary>How many jobs this process runs at once.</summary>
    [Range(1, 10_000)]
    public int Concurrency { get; set; } = 16;

    /// <summary>
    /// On SIGTERM, how long jobs in flight may run on; those still running then go back to the head of the queue
    /// (their attempt not counted).
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")]
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(25);

    /// <summary>
    /// The most often a job's progress is written to Redis: a handler may report as often as it likes; the latest report
    /// is written at most once per interval.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:01:00")]
    public TimeSpan ProgressInterval { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>A file every attempt this worker starts is appended to (see <see cref="Worker.AttemptLog"/>); unset: none.</summary>
    public string? AttemptLog { get; set; }
}
