using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;
using WorkCluster.Redis;

namespace WorkCluster.Queue.Schedules;

/// <summary>
/// Runs the recurring schedules in this process: wakes for the next known occurrence (at least every
/// <see cref="ScheduleOptions.PollInterval"/>) and fires what has come. Every API and worker replica runs one; the
/// schedules' cursors make sure each occurrence is fired once, whichever runs first. Rides out Redis outages.
/// </summary>
public sealed partial class ScheduleRunner(RecurringSchedules schedules, IOptions<ScheduleOptions> options, ScheduleRunnerName name,
    ILogger<ScheduleRunner> logger) : BackgroundService
{
    private static readonly TimeSpan Soonest = TimeSpan.FromMilliseconds(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var backoff = new Backoff(TimeSpan.FromMilliseconds(100), RedisHostingExtensions.MaxReconnectDelay);
        var failing = false;
        while (!stoppingToken.IsCancellationRequested)
        {
            var wait = options.Value.PollInterval;
            try
            {
                if (await schedules.RunDueAsync(name.Value) is { } next && next < wait)
                {
                    wait = next < Soonest ? Soonest : next;
                }
                backoff.Reset();
                if (failing)
                {
                    LogRestored();
                    failing = false;
                }
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                if (!failing)
                {
                    LogRedisUnavailable(e.Message);
                    failing = true;
                }
                wait = backoff.Next();
            }
            try
            {
                await Task.Delay(wait, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
            }
        }
    }

    [LoggerMessage(LogLevel.Warning, "Recurring schedules paused, Redis unreachable; retrying: {Message}")]
    private partial void LogRedisUnavailable(string message);

    [LoggerMessage(LogLevel.Information, "Recurring schedules running again")]
    private partial void LogRestored();
}

/// <summary>The name a schedule runner gives the jobs it makes (their <c>accepted_by</c>).</summary>
public sealed record ScheduleRunnerName(string Value);
