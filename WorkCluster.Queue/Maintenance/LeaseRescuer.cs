using Microsoft.Extensions.Logging;

namespace WorkCluster.Queue.Maintenance;

/// <summary>
/// Takes back the jobs whose lease has lapsed (the sweep): to their place in the queue, or to the dead letter on their
/// last attempt. After a gap in sweeping (the store or every process away) or a restart of the store it holds back for
/// a lease and the grace.
/// </summary>
public sealed partial class LeaseRescuer(WorkQueue queue, ILogger<LeaseRescuer> logger) : IMaintenanceDuty
{
    private bool _holdingBack;

    public string Name => "sweep";

    public TimeSpan Interval { get; } = TimeSpan.FromMilliseconds(250);

    public async Task RunAsync(CancellationToken stoppingToken)
    {
        var runId = await queue.GetStoreRunIdAsync();
        SweepResult sweep;
        do
        {
            sweep = await queue.SweepExpiredLeasesAsync(runId);
            if (sweep.Requeued + sweep.DeadLettered > 0)
            {
                LogRecovered(sweep.Requeued, sweep.DeadLettered);
            }
            if (sweep.HeldBack > TimeSpan.Zero && !_holdingBack)
            {
                LogHoldingBack(sweep.HeldBack.TotalSeconds);
            }
            _holdingBack = sweep.HeldBack > TimeSpan.Zero;
        }
        while (sweep.Requeued + sweep.DeadLettered > 0 && !stoppingToken.IsCancellationRequested);
    }

    [LoggerMessage(LogLevel.Warning, "Lease sweep: {Requeued} jobs whose lease had lapsed went back to the queue, {DeadLettered} failed for good (it was their last attempt)")]
    private partial void LogRecovered(int requeued, int deadLettered);

    [LoggerMessage(LogLevel.Information, "Lease sweep: the queue was unattended for a while (the store or every process away); taking no lease back for {Seconds} s, so that living workers renew theirs first")]
    private partial void LogHoldingBack(double seconds);
}
