using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace WorkCluster.Queue;

/// <summary>
/// The queue's traces and metrics, under the one name <c>WorkCluster</c> (ActivitySource and Meter). A job's
/// journey is one trace: the API's <c>publish</c> span's context is stored with the job, and the worker's
/// <c>process</c> span continues it (OpenTelemetry messaging conventions).
/// </summary>
public sealed class QueueTelemetry
{
    public const string Name = "WorkCluster";
    public const string MessagingSystem = "redis";

    public static readonly ActivitySource ActivitySource = new(Name);

    private readonly Counter<long> _accepted;
    private readonly Counter<long> _worked;
    private readonly Counter<long> _failed;
    private readonly Counter<long> _retried;
    private readonly Counter<long> _cancelled;
    private readonly Histogram<double> _queueWait;
    private readonly Histogram<double> _processingTime;
    private readonly Counter<long> _staleOutcomes;
    private readonly Counter<long> _leasesRecovered;
    private readonly Counter<long> _claimsRecovered;
    private readonly Histogram<double> _maintenance;
    private long _queueDepth = -1;

    public QueueTelemetry(IMeterFactory meters)
    {
        var meter = meters.Create(Name);
        _accepted = meter.CreateCounter<long>("workcluster.jobs.accepted", "{job}", "Jobs accepted into the queue");
        _worked = meter.CreateCounter<long>("workcluster.jobs.worked", "{job}", "Jobs worked (result stored)");
        _failed = meter.CreateCounter<long>("workcluster.jobs.failed", "{job}", "Jobs that failed for good (dead letter)");
        _cancelled = meter.CreateCounter<long>("workcluster.jobs.cancelled", "{job}", "Jobs that ended cancelled");
        _retried = meter.CreateCounter<long>("workcluster.jobs.retried", "{job}", "Failed attempts scheduled for a retry");
        _queueWait = meter.CreateHistogram<double>("workcluster.jobs.queue_wait", "s", "Time from submission to a worker's claim");
        _processingTime = meter.CreateHistogram<double>("workcluster.jobs.processing_time", "s", "Time a handler ran");
        _staleOutcomes = meter.CreateCounter<long>("workcluster.outcomes.stale", "{outcome}",
            "Outcomes refused because their attempt no longer held the job's lease");
        _leasesRecovered = meter.CreateCounter<long>("workcluster.leases.recovered", "{job}",
            "Jobs whose lease lapsed, taken back by the sweep (requeued or dead-lettered)");
        _claimsRecovered = meter.CreateCounter<long>("workcluster.claims.recovered", "{job}",
            "Jobs of claims whose answer was lost on the way, found again by their claim's salt and run under their leases");
        meter.CreateObservableGauge("workcluster.queue.depth", ObserveDepth, "{job}", "Jobs waiting in the queue");
        _maintenance = meter.CreateHistogram<double>("workcluster.maintenance.duration", "s",
            "Runs of the queue's upkeep duties in this process, by duty and outcome (ok, failed, unreachable)");
    }

    /// <summary>A run of upkeep duty <paramref name="duty"/> in this process: <c>ok</c>, <c>failed</c> (it threw), <c>unreachable</c> (the store was away).</summary>
    public void MaintenanceRun(string duty, string outcome, TimeSpan took) =>
        _maintenance.Record(took.TotalSeconds, new KeyValuePair<string, object?>("workcluster.duty", duty),
            new KeyValuePair<string, object?>("workcluster.outcome", outcome));

    public void Accepted(string type) => _accepted.Add(1, Tag(type));

    public void Worked(string type) => _worked.Add(1, Tag(type));

    public void Failed(string type) => _failed.Add(1, Tag(type));

    public void Cancelled(string type, int count = 1) => _cancelled.Add(count, Tag(type));

    public void StaleOutcome(string outcome) => _staleOutcomes.Add(1, new KeyValuePair<string, object?>("workcluster.outcome", outcome));

    /// <summary>What a sweep took back: requeued jobs, and jobs that failed for good (on their last attempt).</summary>
    public void LeasesRecovered(int requeued, int deadLettered)
    {
        if (requeued > 0)
        {
            _leasesRecovered.Add(requeued, new KeyValuePair<string, object?>("workcluster.sweep.result", "requeued"));
        }
        if (deadLettered > 0)
        {
            _leasesRecovered.Add(deadLettered, new KeyValuePair<string, object?>("workcluster.sweep.result", "dead_lettered"));
            _failed.Add(deadLettered, new KeyValuePair<string, object?>("workcluster.failure", "stalled"));
        }
    }

    public void Retried(string type) => _retried.Add(1, Tag(type));

    public void ClaimsRecovered(int jobs) => _claimsRecovered.Add(jobs);

    public void QueueWait(string type, TimeSpan wait) => _queueWait.Record(Math.Max(0, wait.TotalSeconds), Tag(type));

    public void ProcessingTime(string type, TimeSpan time) => _processingTime.Record(time.TotalSeconds, Tag(type));

    /// <summary>The last queue depth read (the gauge reports it; the reader sets it, so observing never calls Redis).</summary>
    public void QueueDepth(long depth) => Interlocked.Exchange(ref _queueDepth, depth);

    private IEnumerable<Measurement<long>> ObserveDepth()
    {
        var depth = Interlocked.Read(ref _queueDepth);
        return depth < 0 ? [] : [new Measurement<long>(depth)];
    }

    private static KeyValuePair<string, object?> Tag(string type) => new("workcluster.work_type", type);

    /// <summary>
    /// Starts the producer span of a submission, a child of the current activity (the HTTP request).
    /// </summary>
    public static Activity? StartPublish(string queue) =>
        StartMessaging($"publish {queue}", ActivityKind.Producer, queue, "publish", "send", default);

    /// <summary>Starts the consumer span of a job's attempt, continuing the trace stored with the job.</summary>
    public static Activity? StartProcess(string queue, string jobId, string? traceParent) =>
        StartMessaging($"process {queue}", ActivityKind.Consumer, queue, "process", "process",
            ActivityContext.TryParse(traceParent, null, out var parent) ? parent : default)
            ?.SetTag("messaging.message.id", jobId);

    private static Activity? StartMessaging(string name, ActivityKind kind, string queue, string operation, string operationType,
        ActivityContext parent)
    {
        var activity = parent == default
            ? ActivitySource.StartActivity(name, kind)
            : ActivitySource.StartActivity(name, kind, parent);
        return activity?
            .SetTag("messaging.system", MessagingSystem)
            .SetTag("messaging.destination.name", queue)
            .SetTag("messaging.operation.name", operation)
            .SetTag("messaging.operation.type", operationType);
    }
}
