using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using StackExchange.Redis;
using WorkCluster.Queue;
using WorkCluster.Redis;

namespace WorkCluster.Worker;

/// <summary>
/// Renews the leases of exactly the jobs this worker's handlers are running, all in one script call every third of
/// the lease TTL (sooner after a failed renewal, so that a worker back from a Redis outage renews at once). A lease
/// reported lost has lapsed and its job was taken back: its handler is told to stop. So is the handler of a job whose
/// cancellation the renewal finds requested (the way this worker learns of it when the mesh could not tell it).
/// </summary>
public sealed partial class LeaseKeeper(WorkQueue queue, IOptions<QueueOptions> options, ILogger<LeaseKeeper> logger)
{
    private static readonly TimeSpan ForgetEarlyCancelsAfter = TimeSpan.FromMinutes(1);

    private readonly ConcurrentDictionary<JobLease, RunningJob> _held = new();

    // Cancellations that came for a lease before this worker held it: the claim's reply can arrive after the API,
    // having seen the job working in Redis, told this worker to cancel it. Value: when (Environment.TickCount64).
    private readonly ConcurrentDictionary<JobLease, long> _cancelledEarly = new();

    /// <summary>Leases held right now.</summary>
    public int Count => _held.Count;

    /// <summary>Renews <paramref name="job"/>'s lease from now on, until <see cref="Drop"/>.</summary>
    public void Hold(RunningJob job)
    {
        _held[job.Lease] = job;
        if (_cancelledEarly.TryRemove(job.Lease, out _) && job.RequestCancel())
        {
            LogCancelRequested(job.Lease.JobId, "told before its claim was handled");
        }
    }

    /// <summary>Stops renewing <paramref name="job"/>'s lease: its attempt has ended (or been recorded).</summary>
    public void Drop(RunningJob job) => _held.TryRemove(job.Lease, out _);

    /// <summary>
    /// Asks the handler running under <paramref name="lease"/> to stop, its job's cancellation requested. Returns false
    /// if this worker runs no attempt under that lease now; should it start one under it soon (its claim's reply not
    /// handled yet), that attempt is cancelled as it starts.
    /// </summary>
    public bool RequestCancel(JobLease lease, string via)
    {
        if (!_held.TryGetValue(lease, out var job))
        {
            var now = Environment.TickCount64;
            foreach (var early in _cancelledEarly.Where(e => now - e.Value > ForgetEarlyCancelsAfter.TotalMilliseconds))
            {
                _cancelledEarly.TryRemove(early.Key, out _);
            }
            _cancelledEarly[lease] = now;
            // Held meanwhile? Then whichever of the two takes the note cancels it.
            if (!_held.TryGetValue(lease, out job) || !_cancelledEarly.TryRemove(lease, out _))
            {
                return false;
            }
        }
        if (job.RequestCancel())
        {
            LogCancelRequested(lease.JobId, via);
        }
        return true;
    }

    /// <summary>Renews until <paramref name="stoppingToken"/> is cancelled.</summary>
    public async Task RunAsync(CancellationToken stoppingToken)
    {
        var interval = options.Value.LeaseRenewInterval;
        var retry = new Backoff(TimeSpan.FromMilliseconds(100), interval < TimeSpan.FromSeconds(1) ? interval : TimeSpan.FromSeconds(1));
        var failing = false;
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                var delay = interval;
                try
                {
                    await RenewAsync();
                    retry.Reset();
                    if (failing)
                    {
                        LogRenewalRestored(_held.Count);
                        failing = false;
                    }
                }
                catch (Exception e) when (e is RedisException or TimeoutException)
                {
                    if (!failing)
                    {
                        LogRenewalFailed(_held.Count, e.Message);
                        failing = true;
                    }
                    delay = retry.Next();
                }
                await Task.Delay(delay, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task RenewAsync()
    {
        var held = _held.Keys.ToArray();
        var renewal = await queue.RenewAsync(held);
        foreach (var cancelled in renewal.CancelRequested)
        {
            RequestCancel(cancelled, "found at a lease renewal");
        }
        foreach (var lost in renewal.Lost)
        {
            if (_held.TryGetValue(lost, out var job))
            {
                LogLeaseLost(lost.JobId, job.Job.Record.Attempts);
                job.LoseLease();
            }
        }
        foreach (var overdue in renewal.Overdue)
        {
            // Renewed no more: the lease lapses and the sweep takes the job back, whatever the handler does.
            if (_held.TryRemove(overdue, out var job))
            {
                LogAbandoned(overdue.JobId, job.Job.Record.Attempts);
                job.LoseLease();
            }
        }
    }

    [LoggerMessage(LogLevel.Warning, "Job {JobId}: the lease of attempt {Attempt} was lost (it lapsed and the job was taken back); stopping its handler, whose outcome can no longer count")]
    private partial void LogLeaseLost(string jobId, int attempt);

    [LoggerMessage(LogLevel.Error, "Job {JobId}: the handler of attempt {Attempt} has run past its timeout and Work:TimeoutGrace without stopping; its lease is no longer renewed, and the job goes back to the queue (or fails for good) when it lapses")]
    private partial void LogAbandoned(string jobId, int attempt);

    [LoggerMessage(LogLevel.Information, "Job {JobId}: cancellation requested ({Via}); stopping its handler")]
    private partial void LogCancelRequested(string jobId, string via);

    [LoggerMessage(LogLevel.Warning, "Renewing {Count} leases failed, Redis unreachable; retrying: {Message}")]
    private partial void LogRenewalFailed(int count, string message);

    [LoggerMessage(LogLevel.Information, "Lease renewal restored ({Count} leases held)")]
    private partial void LogRenewalRestored(int count);
}
