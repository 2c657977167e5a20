using System.Text.Json;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace WorkCluster.Queue;

/// <summary>
/// The work queue in Redis. Each method is one atomic script call, i.e. one round trip:
/// a job costs one <see cref="EnqueueAsync"/>, its share of one <see cref="ClaimAsync"/> and one
/// <see cref="CompleteAsync"/>.
/// </summary>
public sealed class WorkQueue
{
    private readonly IConnectionMultiplexer _redis;
    private readonly QueueScripts _scripts;
    private readonly QueueOptions _options;

    public WorkQueue(IConnectionMultiplexer redis, QueueScripts scripts, IOptions<QueueOptions> options)
    {
        _redis = redis;
        _scripts = scripts;
        _options = options.Value;
        Keys = new QueueKeys(_options.KeyPrefix);
    }

    public QueueKeys Keys { get; }

    private IDatabase Db => _redis.GetDatabase();

    /// <summary>Stores a new job and queues it. Returns its id.</summary>
    /// <param name="type">The work type.</param>
    /// <param name="data">The job's data as JSON text.</param>
    /// <param name="acceptedBy">The name of the API instance that accepted it.</param>
    /// <param name="traceParent">W3C trace parent of the submitting request, if any.</param>
    public async Task<string> EnqueueAsync(string type, string data, string acceptedBy, string? traceParent = null)
    {
        while (true)
        {
            var id = JobId.New();
            var created = (long)await _scripts.Enqueue.EvaluateAsync(Db,
                [Keys.Jobs, Keys.Payloads, Keys.Queue, Keys.Signal],
                [id, type, acceptedBy, data, traceParent ?? ""]).ConfigureAwait(false);
            if (created != 0)
            {
                return id;
            }
            // 128 random bits collided with a live job: practically never, but never overwrite one.
        }
    }

    /// <summary>The job with this id, or null if there is none or its TTL has passed.</summary>
    public async Task<JobView?> GetAsync(string id)
    {
        if (!JobId.IsWellFormed(id))
        {
            return null;
        }
        var result = await _scripts.Get.EvaluateAsync(Db, [Keys.Jobs, Keys.Results, Keys.Expiry], [id]).ConfigureAwait(false);
        if (result.IsNull)
        {
            return null;
        }
        var parts = (RedisResult[])result!;
        return new JobView(id, ParseRecord((string)parts[0]!), parts[1].IsNull ? null : (string?)parts[1]);
    }

    /// <summary>
    /// Moves up to <paramref name="max"/> jobs from the head of the queue to <paramref name="workerId"/>'s
    /// processing list and marks them working. Returns nothing while the queue is empty or paused.
    /// </summary>
    public async Task<IReadOnlyList<ClaimedJob>> ClaimAsync(string workerId, int max)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(max, 1);
        var result = (RedisResult[])(await _scripts.Claim.EvaluateAsync(Db,
            [Keys.Queue, Keys.Processing(workerId), Keys.Jobs, Keys.Payloads, Keys.Signal, Keys.Paused],
            [workerId, max]).ConfigureAwait(false))!;
        var jobs = new ClaimedJob[result.Length / 3];
        for (var i = 0; i < jobs.Length; i++)
        {
            jobs[i] = new ClaimedJob((string)result[3 * i]!, ParseRecord((string)result[3 * i + 1]!), (string)result[3 * i + 2]!);
        }
        return jobs;
    }

    /// <summary>
    /// Stores the result of a job <paramref name="workerId"/> ran and marks it worked.
    /// Returns false if the job had been finished already (by another run) or no longer exists.
    /// </summary>
    public async Task<bool> CompleteAsync(string workerId, string id, string result)
    {
        var done = await _scripts.Complete.EvaluateAsync(Db,
            [Keys.Jobs, Keys.Payloads, Keys.Results, Keys.Processing(workerId), Keys.Expiry],
            [id, workerId, result, (long)_options.ResultTtl.TotalMilliseconds]).ConfigureAwait(false);
        return (long)done == 1;
    }

    /// <summary>Marks a job <paramref name="workerId"/> ran as failed with <paramref name="error"/>.</summary>
    public async Task<bool> FailAsync(string workerId, string id, string error)
    {
        var done = await _scripts.Fail.EvaluateAsync(Db,
            [Keys.Jobs, Keys.Payloads, Keys.Processing(workerId), Keys.Expiry],
            [id, workerId, error, (long)_options.FailedTtl.TotalMilliseconds]).ConfigureAwait(false);
        return (long)done == 1;
    }

    /// <summary>Deletes up to <paramref name="max"/> finished jobs whose TTL has passed; returns how many.</summary>
    public async Task<long> PurgeExpiredAsync(int max = 1000)
    {
        var deleted = await _scripts.Purge.EvaluateAsync(Db, [Keys.Expiry, Keys.Jobs, Keys.Payloads, Keys.Results], [max])
            .ConfigureAwait(false);
        return (long)deleted;
    }

    /// <summary>Number of jobs waiting in the queue.</summary>
    public Task<long> GetQueueLengthAsync() => Db.ListLengthAsync(Keys.Queue);

    private static JobRecord ParseRecord(string json) =>
        JsonSerializer.Deserialize(json, QueueJson.Default.JobRecord)
        ?? throw new InvalidDataException("A job record in Redis is not valid JSON.");
}
