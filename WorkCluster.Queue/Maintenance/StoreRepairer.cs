using Microsoft.Extensions.Logging;

namespace WorkCluster.Queue.Maintenance;

/// <summary>
/// After the store restarted (its run id changed), mends the queue's indexes from the job records, a slice at a time
/// (see <c>Scripts/repair.lua</c>): a store that replays its append-only file may have kept only part of the last
/// scripts' writes.
/// </summary>
public sealed partial class StoreRepairer(WorkQueue queue, ILogger<StoreRepairer> logger) : IMaintenanceDuty
{
    public string Name => "repair";

    public TimeSpan Interval { get; } = TimeSpan.FromSeconds(1);

    public async Task RunAsync(CancellationToken stoppingToken)
    {
        var runId = await queue.GetStoreRunIdAsync();
        long repaired = 0;
        bool more;
        do
        {
            (more, var slice) = await queue.RepairAsync(runId);
            repaired += slice;
        }
        while (more && !stoppingToken.IsCancellationRequested);
        if (repaired > 0)
        {
            LogRepaired(repaired);
        }
    }

    [LoggerMessage(LogLevel.Warning, "Store repair: {Count} job records were out of line with the queue's indexes after the store restarted (a crash kept part of a write); mended")]
    private partial void LogRepaired(long count);
}
