using StackExchange.Redis;
using WorkCluster.Queue;

namespace WorkCluster.Worker;

/// <summary>
/// The queue's clockwork, run by every worker (each step is atomic and idempotent, so running it everywhere at once
/// is harmless): scheduled jobs that have fallen due (delayed jobs, retries) are made ready; jobs whose lease has lapsed are taken back (the
/// sweep); finished jobs whose TTL has passed are deleted (readers stop seeing them at once, this only frees the
/// memory); and the queue-depth gauge is refreshed.
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
                    while (await queue.PromoteDueAsync() > 0 && !stoppingToken.IsCancellationRequested)
                    {
                    }
                    await SweepAsync(stoppingToken);
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

    private async Task SweepAsync(CancellationToken stoppingToken)
    {
        SweepResult sweep;
        do
        {
            sweep = await queue.SweepExpiredLeasesAsync();
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

    private bool _holdingBack;

    [LoggerMessage(LogLevel.Warning, "Lease sweep: {Requeued} jobs whose lease had lapsed went back to the queue, {DeadLettered} failed for good (it was their last attempt)")]
    private partial void LogRecovered(int requeued, int deadLettered);

    [LoggerMessage(LogLevel.Information, "Lease sweep: the queue was unattended for a while (Redis or every worker away); taking no lease back for {Seconds} s, so that living workers renew theirs first")]
    private partial void LogHoldingBack(double seconds);

    [LoggerMessage(LogLevel.Debug, "Queue maintenance skipped, Redis unreachable: {Message}")]
    private partial void LogFailed(string message);
}
