using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.Extensions.Options;
using StackExchange.Redis;
using WorkCluster.Handlers;
using WorkCluster.Queue;

namespace WorkCluster.Worker;

/// <summary>
/// The worker's loop: claim as many jobs as there are free slots, run them, store each result; when the queue is
/// empty, sleep on the queue's signal until work arrives. While Redis is unreachable it backs off and retries.
/// </summary>
public sealed partial class WorkerService(
    WorkQueue queue,
    WorkSignal signal,
    WorkTypes types,
    WorkerIdentity identity,
    IOptions<WorkerOptions> options,
    ILogger<WorkerService> logger) : BackgroundService
{
    private readonly ConcurrentDictionary<string, Task> _running = new();
    private readonly CancellationTokenSource _abortJobs = new();
    private readonly Backoff _redisBackoff = new(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(5));

    /// <summary>Jobs running in this process right now.</summary>
    public int InFlight => _running.Count;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var concurrency = options.Value.Concurrency;
        using var slots = new SemaphoreSlim(concurrency, concurrency);
        LogStarted(identity.Id, concurrency);

        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                await slots.WaitAsync(stoppingToken);
                var free = 1;
                while (free < concurrency && slots.Wait(0))
                {
                    free++;
                }

                IReadOnlyList<ClaimedJob> jobs;
                try
                {
                    jobs = await queue.ClaimAsync(identity.Id, free);
                    _redisBackoff.Reset();
                }
                catch (RedisException e)
                {
                    slots.Release(free);
                    LogRedisUnavailable(e.Message);
                    await _redisBackoff.DelayAsync(stoppingToken);
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
                    // The claim emptied the queue: sleep until the next job arrives.
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
        // Stop claiming, then let the jobs in flight finish while the host allows.
        await base.StopAsync(cancellationToken);
        var inFlight = _running.Values.ToArray();
        if (inFlight.Length > 0)
        {
            LogDraining(inFlight.Length);
            try
            {
                await Task.WhenAll(inFlight).WaitAsync(cancellationToken);
            }
            catch (OperationCanceledException)
            {
                await _abortJobs.CancelAsync();
            }
        }
    }

    private async Task WaitForWorkAsync(CancellationToken stoppingToken)
    {
        try
        {
            await signal.WaitAsync(stoppingToken);
        }
        catch (RedisException e)
        {
            LogRedisUnavailable(e.Message);
            await _redisBackoff.DelayAsync(stoppingToken);
        }
    }

    private async Task RunAsync(ClaimedJob job, SemaphoreSlim slots)
    {
        try
        {
            string? error = null;
            string? result = null;
            try
            {
                result = await ExecuteHandlerAsync(job);
            }
            catch (Exception e) when (!_abortJobs.IsCancellationRequested)
            {
                error = $"{e.GetType().Name}: {e.Message}";
                LogJobFailed(job.Id, job.Record.Type, error);
            }

            if (result is not null)
            {
                await PersistAsync(job.Id, () => queue.CompleteAsync(identity.Id, job.Id, result));
            }
            else if (error is not null)
            {
                await PersistAsync(job.Id, () => queue.FailAsync(identity.Id, job.Id, error));
            }
        }
        catch (OperationCanceledException) when (_abortJobs.IsCancellationRequested)
        {
            // Shut down before the job finished: it stays on this worker's processing list.
        }
        finally
        {
            _running.TryRemove(job.Id, out _);
            slots.Release();
        }
    }

    private async Task<string> ExecuteHandlerAsync(ClaimedJob job)
    {
        var handler = types.GetHandler(job.Record.Type)
            ?? throw new InvalidOperationException($"This worker has no handler for work type '{job.Record.Type}'.");
        using var data = JsonDocument.Parse(job.Data);
        var item = new WorkItem(job.Id, job.Record.Type, data.RootElement, job.Data, job.Record.Attempts);
        var result = await handler.HandleAsync(item, _abortJobs.Token);
        return JsonSerializer.Serialize(result);
    }

    /// <summary>Writes a job's outcome, retrying for as long as Redis is unreachable: a finished job's result is never dropped.</summary>
    private async Task PersistAsync(string jobId, Func<Task<bool>> write)
    {
        var backoff = new Backoff(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(5));
        while (true)
        {
            try
            {
                if (!await write())
                {
                    LogAlreadyFinished(jobId);
                }
                return;
            }
            catch (RedisException e) when (!_abortJobs.IsCancellationRequested)
            {
                LogRedisUnavailable(e.Message);
                await backoff.DelayAsync(_abortJobs.Token);
            }
        }
    }

    public override void Dispose()
    {
        _abortJobs.Dispose();
        base.Dispose();
    }

    [LoggerMessage(LogLevel.Information, "Worker {WorkerId} started, concurrency {Concurrency}")]
    private partial void LogStarted(string workerId, int concurrency);

    [LoggerMessage(LogLevel.Warning, "Redis unavailable, backing off: {Message}")]
    private partial void LogRedisUnavailable(string message);

    [LoggerMessage(LogLevel.Warning, "Job {JobId} ({Type}) failed: {Error}")]
    private partial void LogJobFailed(string jobId, string type, string error);

    [LoggerMessage(LogLevel.Information, "Job {JobId} had already been finished by another run")]
    private partial void LogAlreadyFinished(string jobId);

    [LoggerMessage(LogLevel.Information, "Stopping: waiting for {Count} jobs in flight")]
    private partial void LogDraining(int count);
}
