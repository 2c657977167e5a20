using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.Options;
using StackExchange.Redis;
using WorkCluster.Cluster;
using WorkCluster.Handlers;
using WorkCluster.Queue;
using WorkCluster.Redis;

namespace WorkCluster.Worker;

/// <summary>
/// The worker's loop: claim as many jobs as there are free slots, run each under its lease (kept renewed by the
/// <see cref="LeaseKeeper"/>), record each outcome with the lease's fencing token; when the queue is empty, sleep on
/// the queue's signal until work arrives. While Redis is unreachable it backs off and retries. As soon as the host
/// begins to stop (before any service stops) it claims no more and lets the jobs in flight finish within
/// <see cref="WorkerOptions.ShutdownTimeout"/>, then asks the rest to stop and hands each back once its handler has
/// returned: a job is never handed back while its handler still runs.
/// </summary>
public sealed partial class WorkerService(
    WorkQueue queue,
    WorkSignal signal,
    WorkTypes types,
    NodeIdentity identity,
    LeaseKeeper leases,
    AttemptLog attempts,
    WorkerStatus status,
    QueueTelemetry telemetry,
    IOptions<WorkerOptions> options,
    IOptions<WorkTypeOptions> typeOptions,
    ILogger<WorkerService> logger) : BackgroundService, IHostedLifecycleService
{
    // Cancelled as the host begins to stop: no more claims.
    private readonly CancellationTokenSource _stopClaiming = new();
    private readonly ConcurrentDictionary<RunningJob, Task> _running = new();
    // Cancelled when the shutdown timeout has passed: handlers still running are asked to stop.
    private readonly CancellationTokenSource _abortJobs = new();
    // Cancelled when the host gives up on a clean stop: outcomes are no longer retried.
    private readonly CancellationTokenSource _hardStop = new();
    // Cancelled last on stop: leases are renewed for as long as a handler runs.
    private readonly CancellationTokenSource _stopRenewing = new();
    private readonly Backoff _redisBackoff = new(TimeSpan.FromMilliseconds(100), RedisHostingExtensions.MaxReconnectDelay);
    private Task _renewing = Task.CompletedTask;

    /// <summary>Jobs whose handler has returned and freed its slot while their outcome is on its way to Redis.</summary>
    private int _outcomesWithoutSlot;

    protected override async Task ExecuteAsync(CancellationToken hostStopping)
    {
        using var stopping = CancellationTokenSource.CreateLinkedTokenSource(hostStopping, _stopClaiming.Token);
        var stoppingToken = stopping.Token;
        var concurrency = options.Value.Concurrency;
        var slots = new ClaimSlots(concurrency);
        _renewing = leases.RunAsync(_stopRenewing.Token);
        LogStarted(identity.Id, concurrency);

        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                var free = await slots.TakeAsync(stoppingToken);

                ClaimBatch jobs;
                try
                {
                    jobs = await queue.ClaimAsync(identity.Id, free, stoppingToken);
                    _redisBackoff.Reset();
                }
                catch (Exception e) when (e is RedisException or TimeoutException)
                {
                    // The claim's reply was lost and the store could not say what it took (ClaimAsync asked for a while):
                    // had it taken jobs, their leases lapse and the sweep takes them back.
                    slots.Return(free);
                    LogRedisUnavailable(e.Message);
                    await _redisBackoff.DelayAsync(stoppingToken);
                    continue;
                }

                slots.Return(free - jobs.Count);
                foreach (var job in jobs)
                {
                    // Held and registered before it starts, so that a job finishing at once cannot unregister first.
                    var running = new RunningJob(job, _abortJobs.Token);
                    leases.Hold(running);
                    var run = new Task<Task>(() => RunAsync(running, slots));
                    _running[running] = run.Unwrap();
                    run.Start(TaskScheduler.Default);
                }

                if (jobs.Count < free)
                {
                    // The claim emptied the queue (or it is paused): sleep until the next job arrives, or the next
                    // scheduled one falls due (the claim then makes it ready).
                    await WaitForWorkAsync(stoppingToken, jobs.NextDueIn);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>
    /// The host begins to stop (SIGTERM): claim no more, and start the shutdown timeout now, whichever services the host
    /// stops before this one (the mesh, the web server).
    /// </summary>
    public Task StoppingAsync(CancellationToken cancellationToken)
    {
        _stopClaiming.Cancel();
        if (!_running.IsEmpty)
        {
            LogDraining(_running.Count, options.Value.ShutdownTimeout.TotalSeconds);
        }
        _abortJobs.Token.Register(() =>
        {
            if (!_running.IsEmpty)
            {
                LogAborting(_running.Count);
            }
        });
        _abortJobs.CancelAfter(options.Value.ShutdownTimeout);
        return Task.CompletedTask;
    }

    /// <summary>
    /// Waits for the jobs in flight: they finish, or at the shutdown timeout they are asked to stop and each run hands
    /// its job back once its handler has returned. A handler that ignores cancellation keeps its lease renewed until
    /// the host gives up; once the process is gone, its lease lapses and the sweep takes the job back.
    /// </summary>
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await using var _ = cancellationToken.Register(_hardStop.Cancel);
        try
        {
            await base.StopAsync(cancellationToken);
            await Task.WhenAll(_running.Values).WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            LogAbandoned(_running.Count);
        }
        finally
        {
            await _stopRenewing.CancelAsync();
            await _renewing;
        }
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private async Task WaitForWorkAsync(CancellationToken stoppingToken, TimeSpan? nextDueIn)
    {
        try
        {
            await signal.WaitAsync(stoppingToken, nextDueIn);
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            LogRedisUnavailable(e.Message);
            await _redisBackoff.DelayAsync(stoppingToken);
        }
    }

    private async Task RunAsync(RunningJob running, ClaimSlots slots)
    {
        var job = running.Job;
        status.Started();
        attempts.Started(job.Id, job.Record.Attempts);
        var finished = false;
        using var activity = QueueTelemetry.StartProcess(queue.Keys.Queue, job.Id, job.Record.TraceParent);
        activity?.SetTag("workcluster.work_type", job.Record.Type).SetTag("workcluster.attempt", job.Record.Attempts);
        using var scope = logger.BeginScope(new Dictionary<string, object> { ["JobId"] = job.Id, ["WorkType"] = job.Record.Type });
        var started = Stopwatch.GetTimestamp();
        var slotFreed = false;
        try
        {
            var (result, failure) = await ExecuteHandlerAsync(running);
            telemetry.ProcessingTime(job.Record.Type, Stopwatch.GetElapsedTime(started));
            // A slot is a handler running: the next job may start while this one's outcome is on its way to Redis (its
            // lease stays renewed until the outcome is recorded). Otherwise each slot would sit idle for the round trip
            // of every outcome, and a worker could never run more than Concurrency jobs per two round trips. At most
            // Concurrency outcomes wait so: past that (Redis slow to take them), jobs keep their slots and the worker
            // claims no more until outcomes are recorded.
            if (Interlocked.Increment(ref _outcomesWithoutSlot) <= options.Value.Concurrency)
            {
                slots.Free();
                slotFreed = true;
            }
            else
            {
                Interlocked.Decrement(ref _outcomesWithoutSlot);
            }

            // The handler has returned: only now may the job move on.
            if (failure is not null && running.Aborted && !running.TimedOut)
            {
                var released = await PersistAsync(() => queue.ReleaseAsync(running.Lease, job.Record.Type), QueueOutcome.Stale);
                if (released == QueueOutcome.Released)
                {
                    LogReleased(job.Id);
                }
                else if (released == QueueOutcome.Cancelled)
                {
                    finished = true;
                    LogCancelled(job.Id, job.Record.Type, job.Record.Attempts);
                }
                return;
            }
            if (failure is not null)
            {
                var error = ErrorText.Bound(failure);
                activity?.SetStatus(ActivityStatusCode.Error, error);
                var outcome = await PersistAsync(() => queue.FailAsync(running.Lease, job.Record.Attempts, error, job.Record.Type), QueueOutcome.Stale);
                finished = outcome != QueueOutcome.Stale;
                if (outcome == QueueOutcome.Cancelled)
                {
                    LogCancelled(job.Id, job.Record.Type, job.Record.Attempts);
                }
                else
                {
                    LogAttemptFailed(job.Id, job.Record.Type, job.Record.Attempts, outcome, error);
                }
                return;
            }

            // null: Redis stayed away until the hard stop; the lease lapses and the job runs again elsewhere.
            var completed = await PersistAsync<QueueOutcome?>(async () => await queue.CompleteAsync(running.Lease, result!, job.Record.Type), null);
            switch (completed)
            {
                case QueueOutcome.Worked:
                    finished = true;
                    LogWorked(job.Id, job.Record.Type, job.Record.Attempts, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                    break;
                case QueueOutcome.Cancelled:
                    finished = true;
                    LogCancelled(job.Id, job.Record.Type, job.Record.Attempts);
                    break;
                case QueueOutcome.Stale:
                    LogStale(job.Id, job.Record.Attempts);
                    break;
                case QueueOutcome.ResultTooLarge:
                    finished = true;
                    LogResultTooLarge(job.Id, job.Record.Type, result!.Length);
                    break;
            }
        }
        finally
        {
            leases.Drop(running);
            running.Dispose();
            status.Ended(finished);
            _running.TryRemove(running, out _);
            if (slotFreed)
            {
                Interlocked.Decrement(ref _outcomesWithoutSlot);
            }
            else
            {
                slots.Free();
            }
        }
    }

    /// <summary>
    /// Runs the job's handler to its end, however long that takes after a cancellation (its lease stays renewed
    /// meanwhile). Returns its result as JSON, or why the attempt failed.
    /// </summary>
    private async Task<(string? Result, string? Failure)> ExecuteHandlerAsync(RunningJob running)
    {
        var job = running.Job;
        var handler = types.GetHandler(job.Record.Type);
        if (handler is null)
        {
            return (null, $"This worker has no handler for work type '{job.Record.Type}'.");
        }
        var timeout = typeOptions.Value.TimeoutFor(job.Record.Type);
        running.TimeOutAfter(timeout);
        var progress = new ProgressWriter(queue, running.Lease, options.Value.ProgressInterval, logger);
        try
        {
            using var data = JsonDocument.Parse(job.Data);
            var item = new WorkItem(job.Id, job.Record.Type, data.RootElement, job.Data, job.Record.Attempts) { Progress = progress };
            var result = await handler.HandleAsync(item, running.Cancellation);
            progress.Stop();
            return running.TimedOut ? (null, TimedOutMessage(timeout)) : (JsonSerializer.Serialize(result), null);
        }
        catch (Exception e)
        {
            progress.Stop();
            return (null, running.TimedOut ? TimedOutMessage(timeout)
                : running.CancelRequested && e is OperationCanceledException ? "Cancelled by request."
                : $"{e.GetType().Name}: {e.Message}");
        }
    }

    private static string TimedOutMessage(TimeSpan timeout) => $"Timed out after {timeout} (Work:Timeout).";

    /// <summary>
    /// Records a job's outcome, retrying while Redis is unreachable or not serving, until the host gives up on a clean
    /// stop: a finished job's result is never dropped for a passing outage. Any other error is not retried (it would
    /// hold the slot and keep renewing the lease forever): the outcome is given up, the lease lapses, and the sweep
    /// hands the job to another attempt. (So too if the process dies first.)
    /// </summary>
    private async Task<T> PersistAsync<T>(Func<Task<T>> write, T onGiveUp)
    {
        var backoff = new Backoff(TimeSpan.FromMilliseconds(100), RedisHostingExtensions.MaxReconnectDelay);
        while (true)
        {
            try
            {
                return await write();
            }
            catch (Exception e) when (e is RedisException && !IsPassing(e))
            {
                LogOutcomeRefused(e);
                return onGiveUp;
            }
            catch (Exception e) when ((e is RedisException or TimeoutException) && !_hardStop.IsCancellationRequested)
            {
                LogRedisUnavailable(e.Message);
                try
                {
                    await backoff.DelayAsync(_hardStop.Token);
                }
                catch (OperationCanceledException)
                {
                    return onGiveUp;
                }
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                return onGiveUp;
            }
        }
    }

    private static bool IsPassing(Exception e) => e is TimeoutException || RedisAvailability.IsUnavailable(e);

    public override void Dispose()
    {
        _stopClaiming.Dispose();
        _abortJobs.Dispose();
        _hardStop.Dispose();
        _stopRenewing.Dispose();
        base.Dispose();
    }

    [LoggerMessage(LogLevel.Information, "Worker {WorkerId} started, concurrency {Concurrency}")]
    private partial void LogStarted(string workerId, int concurrency);

    [LoggerMessage(LogLevel.Warning, "Redis unavailable, backing off: {Message}")]
    private partial void LogRedisUnavailable(string message);

    [LoggerMessage(LogLevel.Warning, "Job {JobId} ({Type}) attempt {Attempt} failed ({Outcome}): {Error}")]
    private partial void LogAttemptFailed(string jobId, string type, int attempt, QueueOutcome outcome, string error);

    [LoggerMessage(LogLevel.Debug, "Job {JobId} ({Type}) worked, attempt {Attempt}, {ElapsedMs} ms")]
    private partial void LogWorked(string jobId, string type, int attempt, double elapsedMs);

    [LoggerMessage(LogLevel.Warning, "Job {JobId}: the result of attempt {Attempt} is stale (its lease had lapsed and the job was taken back); not recorded")]
    private partial void LogStale(string jobId, int attempt);

    [LoggerMessage(LogLevel.Warning, "Job {JobId} ({Type}) failed for good: its result ({Length} characters) is larger than Work:MaxResultBytes")]
    private partial void LogResultTooLarge(string jobId, string type, int length);

    [LoggerMessage(LogLevel.Information, "Stopping: {Count} jobs in flight get up to {Seconds} s to finish")]
    private partial void LogDraining(int count, double seconds);

    [LoggerMessage(LogLevel.Warning, "Stopping: {Count} jobs still running at the shutdown timeout; asking them to stop, each goes back to the queue when its handler returns")]
    private partial void LogAborting(int count);

    [LoggerMessage(LogLevel.Warning, "Stopping: {Count} handlers ignored cancellation until the host gave up; their leases lapse and the sweep takes their jobs back")]
    private partial void LogAbandoned(int count);

    [LoggerMessage(LogLevel.Error, "Redis refused to record a job's outcome; giving it up (the job's lease lapses and it runs again)")]
    private partial void LogOutcomeRefused(Exception exception);

    [LoggerMessage(LogLevel.Information, "Job {JobId} handed back to the queue")]
    private partial void LogReleased(string jobId);

    [LoggerMessage(LogLevel.Information, "Job {JobId} ({WorkType}) cancelled by request during attempt {Attempt}")]
    private partial void LogCancelled(string jobId, string workType, int attempt);
}
