using StackExchange.Redis;
using WorkCluster.Queue;

namespace WorkCluster.Worker;

/// <summary>
/// The queue's clockwork, run by every worker (each step is atomic and idempotent): retries whose delay has passed
/// join the queue; finished jobs whose TTL has passed are deleted (readers stop seeing them at once, this only
/// frees the memory); and the queue-depth gauge is refreshed.
/// </summary>
public sealed partial class QueueMaintenance(WorkQueue queue, ILogger<QueueMaintenance> logger) : BackgroundService
{
    private static readonly TimeSpan PromoteInterval = TimeSpan.FromMilliseconds(250);
    private const int PurgeEvery = 4; // ticks: once a second

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(PromoteInterval);
        var tick = 0;
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    while (await queue.PromoteDueRetriesAsync() > 0 && !stoppingToken.IsCancellationRequested)
                    {
                    }
                    if (++tick % PurgeEvery == 0)
                    {
                        await queue.GetQueueLengthAsync(); // feeds the queue-depth gauge
                        while (await queue.PurgeExpiredAsync() > 0 && !stoppingToken.IsCancellationRequested)
                        {
                        }
                    }
                }
                catch (Exception e) when (e is RedisException or TimeoutException)
                {
                    LogFailed(e.Message);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    [LoggerMessage(LogLevel.Debug, "Queue maintenance skipped, Redis unreachable: {Message}")]
    private partial void LogFailed(string message);
}
