using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace WorkCluster.Queue.Maintenance;

/// <summary>The name a process takes maintenance turns under (its instance name).</summary>
public sealed record MaintainerName(string Value);

/// <summary>
/// Runs the queue's upkeep in every process that serves the queue (API replicas and workers alike, so that a cluster of
/// only HTTP workers is kept too): each duty on its own interval, in exactly one process per tick, whoever takes the
/// duty's turn in the store first. A process that stops, or loses the store, simply takes no turns: the others do.
/// </summary>
public sealed partial class QueueMaintainer(WorkQueue queue, IEnumerable<IMaintenanceDuty> duties, MaintainerName name,
    ILogger<QueueMaintainer> logger) : BackgroundService
{
    private static readonly TimeSpan GaugeInterval = TimeSpan.FromSeconds(1);

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(duties.Select(duty => RunDutyAsync(duty, stoppingToken)).Append(RefreshDepthGaugeAsync(stoppingToken)));

    /// <summary>This process's queue-depth gauge, read every second (each process reports its own).</summary>
    private async Task RefreshDepthGaugeAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(GaugeInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    await queue.GetQueueLengthAsync();
                }
                catch (Exception e) when (e is RedisException or TimeoutException)
                {
                    // The store is away: the gauge keeps its last reading.
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task RunDutyAsync(IMaintenanceDuty duty, CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(duty.Interval);
        var failing = false;
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    if (await queue.TakeMaintenanceTurnAsync(duty.Name, name.Value, duty.Interval))
                    {
                        await duty.RunAsync(stoppingToken);
                    }
                    if (failing)
                    {
                        LogRestored(duty.Name);
                        failing = false;
                    }
                }
                catch (Exception e) when (e is RedisException or TimeoutException)
                {
                    if (!failing)
                    {
                        LogFailed(duty.Name, e.Message);
                        failing = true;
                    }
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    [LoggerMessage(LogLevel.Debug, "Queue maintenance ({Duty}) skipped, the store is unreachable: {Message}")]
    private partial void LogFailed(string duty, string message);

    [LoggerMessage(LogLevel.Debug, "Queue maintenance ({Duty}) runs again")]
    private partial void LogRestored(string duty);
}
