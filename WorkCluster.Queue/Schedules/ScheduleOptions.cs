using System.ComponentModel.DataAnnotations;

namespace WorkCluster.Queue.Schedules;

/// <summary>What happens to occurrences that were missed (nobody ran the schedules then: the whole cluster was down).</summary>
public enum CatchUp
{
    /// <summary>Missed occurrences are skipped (and counted); the schedule goes on from the next one.</summary>
    None,

    /// <summary>The most recent missed occurrence runs once, standing for all of them (unless one is on time anyway).</summary>
    Last,
}

/// <summary>Settings of recurring schedules, bound from the <c>Schedules</c> configuration section.</summary>
public sealed class ScheduleOptions
{
    public const string SectionName = "Schedules";

    /// <summary>Whether this process runs the schedules (every API and worker replica does by default; they never double up).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>What happens to missed occurrences.</summary>
    public CatchUp CatchUp { get; set; } = CatchUp.Last;

    /// <summary>
    /// An occurrence not fired within this time after it is missed (see <see cref="CatchUp"/>); within it, it is fired late
    /// (a runner was slow, or all were restarting).
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan MissedAfter { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>How many schedules the cluster holds at most.</summary>
    [Range(1, 1_000_000)]
    public int MaxSchedules { get; set; } = 10_000;

    /// <summary>The longest a runner sleeps between looks at the schedules (it wakes sooner for the next occurrence it knows of).</summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:01:00")]
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(1);
}
