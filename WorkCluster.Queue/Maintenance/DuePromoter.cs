namespace WorkCluster.Queue.Maintenance;

/// <summary>
/// Makes scheduled jobs that have fallen due (delayed jobs, retries after their backoff) ready, so that they are ready
/// while every worker is busy too (an idle worker's claim promotes them itself).
/// </summary>
public sealed class DuePromoter(WorkQueue queue) : IMaintenanceDuty
{
    public string Name => "promote";

    public TimeSpan Interval { get; } = TimeSpan.FromMilliseconds(250);

    public async Task RunAsync(CancellationToken stoppingToken)
    {
        while (await queue.PromoteDueAsync() > 0 && !stoppingToken.IsCancellationRequested)
        {
        }
    }
}
