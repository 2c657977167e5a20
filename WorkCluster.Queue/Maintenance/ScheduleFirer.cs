using Microsoft.Extensions.Options;
using WorkCluster.Queue.Schedules;

namespace WorkCluster.Queue.Maintenance;

/// <summary>
/// Fires the recurring schedules' occurrences that have come (<see cref="RecurringSchedules.RunDueAsync"/>), making their
/// jobs under this process's name. Within its tick it waits for an occurrence due before the tick ends, so that a schedule
/// fires on time, not up to a tick late (the turn's holder keeps it from tick to tick, and its next tick follows at once
/// when a run reaches the tick's end). Each occurrence is fired exactly once whoever runs (the script steps a cursor only
/// from where its runner read it), so the turn only spares the store the same reads done in every process. Every
/// process must know the time zones of the schedules (one image, one time zone database): a schedule whose zone the
/// turn's holder does not know is not fired by it, and it says so in a warning.
/// </summary>
public sealed class ScheduleFirer(RecurringSchedules schedules, IOptions<ScheduleOptions> options, MaintainerName name) : IMaintenanceDuty
{
    public string Name => "schedules";

    public TimeSpan Interval => options.Value.PollInterval;

    public async Task RunAsync(CancellationToken stoppingToken)
    {
        var tick = System.Diagnostics.Stopwatch.StartNew();
        while (!stoppingToken.IsCancellationRequested)
        {
            var next = await schedules.RunDueAsync(name.Value).ConfigureAwait(false);
            if (next is not { } wait || tick.Elapsed + wait > Interval)
            {
                return; // the next occurrence is for a later tick
            }
            await Task.Delay(wait < TimeSpan.FromMilliseconds(1) ? TimeSpan.FromMilliseconds(1) : wait, stoppingToken).ConfigureAwait(false);
        }
    }
}
