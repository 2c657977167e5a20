namespace WorkCluster.Queue.Maintenance;

/// <summary>
/// One duty of the queue's upkeep (taking back lapsed leases, promoting due jobs, purging expired ones, repairing after
/// a store restart, firing recurring schedules). <see cref="QueueMaintainer"/> runs each duty every <see cref="Interval"/>,
/// in one of the processes that serve the queue at a time (the holder of its turn). A duty's steps are atomic scripts,
/// safe to run anywhere; running each in one process only spares the store the same work done many times.
/// </summary>
public interface IMaintenanceDuty
{
    /// <summary>A short name: the duty's turn key in the store, its logs.</summary>
    string Name { get; }

    /// <summary>How often the duty runs (across the cluster).</summary>
    TimeSpan Interval { get; }

    /// <summary>Does one tick's work: until nothing is left, or the process stops.</summary>
    Task RunAsync(CancellationToken stoppingToken);
}
