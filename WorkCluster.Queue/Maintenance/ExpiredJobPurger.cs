namespace WorkCluster.Queue.Maintenance;

/// <summary>
/// Deletes finished jobs whose TTL has passed (readers stop seeing them at once; this frees the memory), and refreshes
/// the queue-depth gauge.
/// </summary>
public sealed class ExpiredJobPurger(WorkQueue queue) : IMaintenanceDuty
{
    public string Name => "purge";

    public TimeSpan Interval { get; } = TimeSpan.FromSeconds(1);

    public async Task RunAsync(CancellationToken stoppingToken)
    {
        while (await queue.PurgeExpiredAsync() > 0 && !stoppingToken.IsCancellationRequested)
        {
        }
    }
}
