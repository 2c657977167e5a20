using StackExchange.Redis;
using WorkCluster.Handlers;
using WorkCluster.Queue;

namespace WorkCluster.Worker;

/// <summary>
/// Writes one attempt's progress reports to Redis, fenced by its lease: the latest report wins, and it is written at
/// most once per <see cref="WorkerOptions.ProgressInterval"/>, so that a handler reporting in a tight loop costs Redis
/// a few writes a second. The handler never waits for Redis; a report that cannot be written (Redis away) is dropped,
/// as a later one supersedes it anyway.
/// </summary>
public sealed partial class ProgressWriter(WorkQueue queue, JobLease lease, TimeSpan interval, ILogger logger) : IProgressReporter
{
    private readonly Lock _lock = new();
    private (double? Percent, string? Message)? _pending;
    private bool _writing;
    private bool _stopped;
    private long _lastWrite = long.MinValue;

    public ValueTask ReportAsync(double? percent, string? message)
    {
        if (percent is { } p && (double.IsNaN(p) || double.IsInfinity(p)))
        {
            percent = null;
        }
        if (message is { Length: > IProgressReporter.MaxMessageLength })
        {
            message = message[..IProgressReporter.MaxMessageLength];
        }
        lock (_lock)
        {
            if (_stopped)
            {
                return ValueTask.CompletedTask;
            }
            _pending = (percent is { } value ? Math.Round(Math.Clamp(value, 0, 100), 2) : null, message);
            if (_writing)
            {
                return ValueTask.CompletedTask; // the writer takes the latest report when its interval has passed
            }
            _writing = true;
        }
        _ = Task.Run(WriteAsync);
        return ValueTask.CompletedTask;
    }

    /// <summary>The attempt has ended: reports from now on are dropped (the outcome supersedes them).</summary>
    public void Stop()
    {
        lock (_lock)
        {
            _stopped = true;
            _pending = null;
        }
    }

    private async Task WriteAsync()
    {
        while (true)
        {
            if (_lastWrite != long.MinValue
                && _lastWrite + (long)interval.TotalMilliseconds - Environment.TickCount64 is > 0 and var wait)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(wait)).ConfigureAwait(false);
            }
            (double? Percent, string? Message) report;
            lock (_lock)
            {
                if (_pending is not { } next || _stopped)
                {
                    _writing = false;
                    return;
                }
                report = next;
                _pending = null;
            }
            _lastWrite = Environment.TickCount64;
            try
            {
                if (!await queue.ReportProgressAsync(lease, report.Percent, report.Message).ConfigureAwait(false))
                {
                    Stop(); // the attempt is stale: nothing it reports can count
                }
            }
            catch (Exception e)
            {
                // Progress is best effort: whatever went wrong, the handler runs on and a later report may be written.
                LogDropped(lease.JobId, e.Message);
            }
        }
    }

    [LoggerMessage(LogLevel.Debug, "Job {JobId}: a progress report was dropped: {Message}")]
    private partial void LogDropped(string jobId, string message);
}
