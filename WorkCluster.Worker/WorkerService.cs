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
/// The worker's loop: claim as many jobs as there are free slots, run them, record each outcome; when the queue is
/// empty, sleep on the queue's signal until work arrives. While Redis is unreachable it backs off and retries.
/// On stop it claims no more, lets the jobs in flight finish within <see cref="WorkerOptions.ShutdownTimeout"/>
/// and hands the rest back to the queue.
/// </summary>
public sealed partial class WorkerService(
    WorkQueue queue,
    WorkSignal signal,
    WorkTypes types,
    NodeIdentity identity,
    NodeHeartbeat heartbeat,
    WorkerStatus status,
    QueueTelemetry telemetry,
    IOptions<WorkerOptions> options,
    IOptions<WorkTypeOptions> typeOptions,
    ILogger<WorkerService> logger) : BackgroundService
{
    private readonly ConcurrentDictionary<string, Task> _running = new();
    // Cancelled when the shutdown timeout has passed: handlers still running are asked to stop.
    private readonly CancellationTokenSource _abortJobs = new();
    // Cancelled when the host gives up on a clean stop: outcomes are no longer retried.
    private readonly CancellationTokenSource _hardStop = new();
    private readonly Backoff _redisBackoff = new(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(5));

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var concurrency = options.Value.Concurrency;
        // Not disposed here: jobs still running when this loop ends (on stop) release their slot later.
        // (A SemaphoreSlim holds nothing to dispose unless its wait handle is used.)
        var slots = new SemaphoreSlim(concurrency, concurrency);

        try
        {
            // A job may only sit on our processing list once the cluster can see us: else nobody would ever
            // take it back if we died.
            await heartbeat.Joined.WaitAsync(stoppingToken);
            LogStarted(identity.Id, concurrency);

            while (!stoppingToken.IsCancellationRequested)
            {
                await slots.WaitAsync(stoppingToken);
                var free = 1;
                while (free < concurrency && slots.Wait(0))
                {
                    free++;
                }

                IReadOnlyList<ClaimedJob>? jobs;
                try
                {
                    jobs = await queue.ClaimAsync(identity.Id, free, heartbeat.LivenessKey);
                    _redisBackoff.Reset();
                }
                catch (Exception e) when (e is RedisException or TimeoutException)
                {
                    slots.Release(free);
                    LogRedisUnavailable(e.Message);
                    await _redisBackoff.DelayAsync(stoppingToken);
                    continue;
                }

                if (jobs is null)
                {
                    // The cluster presumed us dead (Redis was out of reach longer than a TTL) and took our jobs
                    // back; we take new ones once the next heartbeat has made us visible again.
                    slots.Release(free);
                    LogNotRegistered(identity.Id);
                    await Task.Delay(heartbeat.Interval, stoppingToken);
                    continue;
                }
                if (jobs.Count < free)
                {
                    slots.Release(free - jobs.Count);
                }
                foreach (var job in jobs)
                {
                    // Registered before it starts, so that a job finishing at once cannot unregister first.
                    var run = new Task<Task>(() => RunAsync(job, slots));
                    _running[job.Id] = run.Unwrap();
                    run.Start(TaskScheduler.Default);
                }

                if (jobs.Count < free)
                {
                    // The claim emptied the queue (or it is paused): sleep until the next job arrives.
                    await WaitForWorkAsync(stoppingToken);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await using var _ = cancellationToken.Register(_hardStop.Cancel);
        await base.StopAsync(cancellationToken);

        var inFlight = _running.Values.ToArray();
        if (inFlight.Length == 0)
        {
            return;
        }
        var timeout = options.Value.ShutdownTimeout;
        LogDraining(inFlight.Length, timeout.TotalSeconds);
        try
        {
            await Task.WhenAll(inFlight).WaitAsync(timeout, cancellationToken);
            return;
        }
        catch (TimeoutException)
        {
        }

        // Out of time: stop the handlers; each run hands its job back to the queue as it ends.
        LogAborting(_running.Count);
        await _abortJobs.CancelAsync();
        try
        {
            await Task.WhenAll(_running.Values).WaitAsync(TimeSpan.FromSeconds(5), cancellationToken);
        }
        catch (TimeoutException)
        {
            // Handlers that ignore cancellation: hand their jobs back from here. Should one finish later after
            // all, its result is still taken, and the queue skips the handed-back copy.
            foreach (var jobId in _running.Keys)
            {
                await ReleaseAsync(jobId);
            }
        }
    }

    private async Task WaitForWorkAsync(CancellationToken stoppingToken)
    {
        try
        {
            await signal.WaitAsync(stoppingToken);
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            LogRedisUnavailable(e.Message);
            await _redisBackoff.DelayAsync(stoppingToken);
        }
    }

    private async Task RunAsync(ClaimedJob job, SemaphoreSlim slots)
    {
        status.Started();
        var finished = false;
        using var activity = QueueTelemetry.StartProcess(queue.Keys.Queue, job.Id, job.Record.TraceParent);
        activity?.SetTag("workcluster.work_type", job.Record.Type).SetTag("workcluster.attempt", job.Record.Attempts);
        using var scope = logger.BeginScope(new Dictionary<string, object> { ["JobId"] = job.Id, ["WorkType"] = job.Record.Type });
        var started = Stopwatch.GetTimestamp();
        try
        {
            string result;
            try
            {
                result = await ExecuteHandlerAsync(job);
                telemetry.ProcessingTime(job.Record.Type, Stopwatch.GetElapsedTime(started));
            }
            catch (OperationCanceledException) when (_abortJobs.IsCancellationRequested)
            {
                await ReleaseAsync(job.Id);
                return;
            }
            catch (Exception e)
            {
                telemetry.ProcessingTime(job.Record.Type, Stopwatch.GetElapsedTime(started));
                var error = e is TimeoutException ? e.Message : $"{e.GetType().Name}: {e.Message}";
                activity?.SetStatus(ActivityStatusCode.Error, error);
                var outcome = await PersistAsync(() => queue.FailAsync(identity.Id, job.Id, job.Record.Attempts, error, job.Record.Type), FailOutcome.Stale);
                finished = true;
                LogAttemptFailed(job.Id, job.Record.Type, job.Record.Attempts, outcome, error);
                return;
            }

            // null: Redis stayed away until the hard stop; the job stays on our list and recovery runs it again.
            var completed = await PersistAsync<bool?>(async () => await queue.CompleteAsync(identity.Id, job.Id, result, job.Record.Type), null);
            if (completed == true)
            {
                LogWorked(job.Id, job.Record.Type, job.Record.Attempts, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }
            else if (completed == false)
            {
                LogAlreadyFinished(job.Id);
            }
            finished = true;
        }
        finally
        {
            status.Ended(finished);
            _running.TryRemove(job.Id, out _);
            slots.Release();
        }
    }

    private async Task<string> ExecuteHandlerAsync(ClaimedJob job)
    {
        var handler = types.GetHandler(job.Record.Type)
            ?? throw new InvalidOperationException($"This worker has no handler for work type '{job.Record.Type}'.");
        var timeout = typeOptions.Value.TimeoutFor(job.Record.Type);
        using var data = JsonDocument.Parse(job.Data);
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(_abortJobs.Token);
        cancel.CancelAfter(timeout);

        var item = new WorkItem(job.Id, job.Record.Type, data.RootElement, job.Data, job.Record.Attempts);
        try
        {
            // WaitAsync: a handler that ignores its token still loses the attempt when its time is up.
            var result = await handler.HandleAsync(item, cancel.Token).WaitAsync(timeout, _abortJobs.Token);
            return JsonSerializer.Serialize(result);
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested && !_abortJobs.IsCancellationRequested)
        {
            throw new TimeoutException($"Timed out after {timeout} (Work:Timeout).");
        }
        catch (TimeoutException)
        {
            await cancel.CancelAsync();
            throw new TimeoutException($"Timed out after {timeout} (Work:Timeout).");
        }
    }

    private async Task ReleaseAsync(string jobId)
    {
        if (await PersistAsync(() => queue.ReleaseAsync(identity.Id, jobId), false))
        {
            LogReleased(jobId);
        }
    }

    /// <summary>
    /// Records a job's outcome, retrying while Redis is unreachable, until the host gives up on a clean stop:
    /// a finished job's result is never dropped for a passing outage. (If the process dies first, the job is still
    /// on its processing list, and the cluster hands it to another worker.)
    /// </summary>
    private async Task<T> PersistAsync<T>(Func<Task<T>> write, T onGiveUp)
    {
        var backoff = new Backoff(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(5));
        while (true)
        {
            try
            {
                return await write();
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

    public override void Dispose()
    {
        _abortJobs.Dispose();
        _hardStop.Dispose();
        base.Dispose();
    }

    [LoggerMessage(LogLevel.Information, "Worker {WorkerId} started, concurrency {Concurrency}")]
    private partial void LogStarted(string workerId, int concurrency);

    [LoggerMessage(LogLevel.Warning, "Redis unavailable, backing off: {Message}")]
    private partial void LogRedisUnavailable(string message);

    [LoggerMessage(LogLevel.Warning, "Worker {WorkerId} is not registered in the cluster (presumed dead during an outage); claiming again after its next heartbeat")]
    private partial void LogNotRegistered(string workerId);

    [LoggerMessage(LogLevel.Warning, "Job {JobId} ({Type}) attempt {Attempt} failed ({Outcome}): {Error}")]
    private partial void LogAttemptFailed(string jobId, string type, int attempt, FailOutcome outcome, string error);

    [LoggerMessage(LogLevel.Debug, "Job {JobId} ({Type}) worked, attempt {Attempt}, {ElapsedMs} ms")]
    private partial void LogWorked(string jobId, string type, int attempt, double elapsedMs);

    [LoggerMessage(LogLevel.Information, "Job {JobId} had already been finished by another run")]
    private partial void LogAlreadyFinished(string jobId);

    [LoggerMessage(LogLevel.Information, "Stopping: {Count} jobs in flight get up to {Seconds} s to finish")]
    private partial void LogDraining(int count, double seconds);

    [LoggerMessage(LogLevel.Warning, "Stopping: {Count} jobs still running at the shutdown timeout; handing them back")]
    private partial void LogAborting(int count);

    [LoggerMessage(LogLevel.Information, "Job {JobId} handed back to the queue")]
    private partial void LogReleased(string jobId);
}
