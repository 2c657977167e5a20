using StackExchange.Redis;
using WorkCluster.Queue;

namespace WorkCluster.Worker;

/// <summary>
/// Deletes finished jobs whose TTL has passed. Readers never see them (the read script checks the expiry);
/// this only frees the memory. Any number of workers may run it at once.
/// </summary>
public sealed partial class ExpiredJobsPurger(WorkQueue queue, ILogger<ExpiredJobsPurger> logger) : BackgroundService
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    while (await queue.PurgeExpiredAsync() > 0 && !stoppingToken.IsCancellationRequested)
                    {
                    }
                }
                catch (RedisException e)
                {
                    LogPurgeFailed(e.Message);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    [LoggerMessage(LogLevel.Debug, "Purging expired jobs failed: {Message}")]
    private partial void LogPurgeFailed(string message);
}
