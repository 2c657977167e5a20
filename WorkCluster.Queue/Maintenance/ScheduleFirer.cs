using Microsoft.Extensions.Options;
using WorkCluster.Queue.Schedules;

namespace WorkCluster.Queue.Maintenance;

/// <summary>
/// Fires the recurring schedules' occurrences that have come (<see cref="RecurringSchedules.RunDueAsync"/>), making their
/// jobs under this process's name. Within its tick it waits for an occurrence due before the tick ends, so that a schedule
/// fires on time, not up to a tick late. Each occurrence is fired exactly once whoever runs (the script steps a cursor
/// only from where its runner read it), so the turn only spares the store the same reads done in every process.
/// </summary>
public sealed class ScheduleFirer(RecurringSchedules schedules, IOptions<ScheduleOptions> options, MaintainerName name) : IMaintenanceDuty
{
    /// <summary>The part of a tick the duty may spend waiting for an occurrence (the rest is left for the next turn to be taken).</summary>
    private const double TickShare = 0.8;

    public string Name => "schedules";

    public TimeSpan Interval => options.Value.PollInterval;

    public async Task RunAsync(CancellationToken stoppingToken)
    {
        var tick = System.Diagnostics.Stopwatch.StartNew();
        while (!stoppingToken.IsCancellationRequested)
        {
            var next = await schedules.RunDueAsync(name.Value).ConfigureAwait(false);
            if (next is not { } wait || tick.Elapsed + wait > Interval * TickShare)
            {
                return; // the next occurrence is for a later tick
            }
            await Task.Delay(wait < TimeSpan.FromMilliseconds(1) ? TimeSpan.FromMilliseconds(1) : wait, stoppingToken).ConfigureAwait(false);
        }
    }
}
