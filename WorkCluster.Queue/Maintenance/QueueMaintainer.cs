using System.Diagnostics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace WorkCluster.Queue.Maintenance;

/// <summary>The name a process takes maintenance turns under (its instance name), and gives the jobs its schedules make.</summary>
public sealed record MaintainerName(string Value);

/// <summary>
/// The queue's one maintainer: runs every upkeep duty (<see cref="IMaintenanceDuty"/>: lease rescue, promotion of due jobs,
/// purge, repair after a store restart, recurring schedules) in every process that serves the queue (API replicas and
/// workers alike, so that a cluster of only HTTP workers is kept too), each on its own interval and in one process at a
/// time: the holder of the duty's turn in the store, which keeps it by taking it every tick
/// (<see cref="WorkQueue.TakeMaintenanceTurnAsync"/>). A process that stops, or loses the store, takes no turns: its
/// turns lapse and the others take them. Each run is measured (<c>workcluster.maintenance.duration</c>, by duty and outcome)
/// and, at most once a second per duty and whenever it changes from ok to failed or back, recorded in the store for
/// the cluster's monitor (<see cref="WorkQueue.GetMaintenanceAsync"/>). A duty that throws is logged and tried again
/// next tick: it never stops the others, nor the process.
/// </summary>
public sealed partial class QueueMaintainer(WorkQueue queue, IEnumerable<IMaintenanceDuty> duties, MaintainerName name,
    QueueTelemetry telemetry, ILogger<QueueMaintainer> logger) : BackgroundService
{
    private static readonly TimeSpan GaugeInterval = TimeSpan.FromSeconds(1);

    /// <summary>The least time between two records of a duty's runs that went the same way.</summary>
    private static readonly TimeSpan RecordInterval = TimeSpan.FromSeconds(1);

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
        var unreachable = false;
        bool? lastOk = null;
        var lastRecord = Stopwatch.StartNew();
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                var started = Stopwatch.GetTimestamp();
                try
                {
                    if (!await queue.TakeMaintenanceTurnAsync(duty.Name, name.Value, duty.Interval))
                    {
                        continue;
                    }
                    string? error = null;
                    try
                    {
                        await duty.RunAsync(stoppingToken);
                    }
                    catch (Exception e) when (e is not (RedisException or TimeoutException) && !(e is OperationCanceledException && stoppingToken.IsCancellationRequested))
                    {
                        error = $"{e.GetType().Name}: {e.Message}";
                        LogDutyFailed(duty.Name, e);
                    }
                    var took = Stopwatch.GetElapsedTime(started);
                    telemetry.MaintenanceRun(duty.Name, error is null ? "ok" : "failed", took);
                    var ok = error is null;
                    if (lastOk != ok || lastRecord.Elapsed >= RecordInterval)
                    {
                        try
                        {
                            await queue.RecordMaintenanceAsync(duty.Name, name.Value, ok, error, took);
                            lastOk = ok;
                            lastRecord.Restart();
                        }
                        catch (Exception e) when (e is RedisException or TimeoutException)
                        {
                            // The run is measured already; a later one records how they go.
                        }
                    }
                    if (unreachable)
                    {
                        LogRestored(duty.Name);
                        unreachable = false;
                    }
                }
                catch (Exception e) when (e is RedisException or TimeoutException)
                {
                    telemetry.MaintenanceRun(duty.Name, "unreachable", Stopwatch.GetElapsedTime(started));
                    if (!unreachable)
                    {
                        LogUnreachable(duty.Name, e.Message);
                        unreachable = true;
                    }
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    [LoggerMessage(LogLevel.Debug, "Queue maintenance ({Duty}) skipped, the store is unreachable: {Message}")]
    private partial void LogUnreachable(string duty, string message);

    [LoggerMessage(LogLevel.Debug, "Queue maintenance ({Duty}) runs again")]
    private partial void LogRestored(string duty);

    [LoggerMessage(LogLevel.Error, "Queue maintenance ({Duty}) failed; it runs again next tick")]
    private partial void LogDutyFailed(string duty, Exception exception);
}
