using WorkCluster.Queue;

namespace WorkCluster.Worker;

/// <summary>
/// One attempt running in this worker: the job it claimed, its lease, and the cancellation its handler gets, which
/// fires when the attempt's time is up (<c>Work:Timeout</c>), when its lease is lost, when its cancellation is requested
/// (over the mesh, or found at a lease renewal), or when the worker stops.
/// </summary>
public sealed class RunningJob : IDisposable
{
    private readonly CancellationTokenSource _cancel;
    private readonly CancellationToken _abort;
    private volatile bool _leaseLost;
    private volatile bool _timedOut;
    private volatile bool _cancelRequested;
    private ITimer? _timeout;

    public RunningJob(ClaimedJob job, CancellationToken abort)
    {
        Job = job;
        _abort = abort;
        _cancel = CancellationTokenSource.CreateLinkedTokenSource(abort);
    }

    public ClaimedJob Job { get; }

    public JobLease Lease => Job.Lease;

    /// <summary>What the handler is given: cancelled when the attempt must stop (see the class summary).</summary>
    public CancellationToken Cancellation => _cancel.Token;

    /// <summary>The worker is stopping and asked the handler to stop: the job goes back to the queue, its attempt not counted.</summary>
    public bool Aborted => _abort.IsCancellationRequested;

    /// <summary>The attempt ran past its timeout: it fails, whatever the handler does afterwards.</summary>
    public bool TimedOut => _timedOut;

    /// <summary>The lease lapsed and the job was taken back: whatever this attempt records is stale.</summary>
    public bool LeaseLost => _leaseLost;

    /// <summary>The job's cancellation was requested: whatever the attempt records ends the job cancelled.</summary>
    public bool CancelRequested => _cancelRequested;

    /// <summary>
    /// The job's cancellation was requested: the handler is asked to stop (its callbacks run elsewhere). Returns false if
    /// it had been requested already.
    /// </summary>
    public bool RequestCancel()
    {
        if (_cancelRequested)
        {
            return false;
        }
        _cancelRequested = true;
        _ = Task.Run(Cancel);
        return true;
    }

    /// <summary>Cancels the handler once <paramref name="timeout"/> has passed.</summary>
    public void TimeOutAfter(TimeSpan timeout) =>
        // The cause is set before the cancellation, whose callbacks may run the handler's continuation inline.
        _timeout = TimeProvider.System.CreateTimer(static state =>
        {
            var self = (RunningJob)state!;
            self._timedOut = !self._abort.IsCancellationRequested && !self._leaseLost && !self._cancelRequested;
            self.Cancel();
        }, this, timeout, Timeout.InfiniteTimeSpan);

    /// <summary>
    /// The lease is gone: the handler is asked to stop, since its work can no longer count. Its cancellation callbacks
    /// run elsewhere, so that the caller (the lease keeper) is not held up by them.
    /// </summary>
    public void LoseLease()
    {
        _leaseLost = true;
        _ = Task.Run(Cancel);
    }

    private void Cancel()
    {
        try
        {
            _cancel.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The attempt has ended meanwhile.
        }
    }

    public void Dispose()
    {
        _timeout?.Dispose();
        _cancel.Dispose();
    }
}
