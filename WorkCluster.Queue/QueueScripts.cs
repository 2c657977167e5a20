using WorkCluster.Redis;

namespace WorkCluster.Queue;

/// <summary>Every state transition of a job, one Lua script each (see <c>Scripts/</c>).</summary>
public sealed class QueueScripts : IRedisScriptSet
{
    private const string ResourcePrefix = "WorkCluster.Queue.Scripts.";

    public RedisScript Enqueue { get; } = Load("enqueue");
    public RedisScript Claim { get; } = Load("claim");
    public RedisScript Lease { get; } = Load("lease");
    public RedisScript Complete { get; } = Load("complete");
    public RedisScript Fail { get; } = Load("fail");
    public RedisScript Renew { get; } = Load("renew");
    public RedisScript Promote { get; } = Load("promote");
    public RedisScript Sweep { get; } = Load("sweep");
    public RedisScript Release { get; } = Load("release");
    public RedisScript Retry { get; } = Load("retry");
    public RedisScript Pause { get; } = Load("pause");
    public RedisScript Resume { get; } = Load("resume");
    public RedisScript Get { get; } = Load("get");
    public RedisScript FailedPage { get; } = Load("failed");
    public RedisScript Purge { get; } = Load("purge");
    public RedisScript Stats { get; } = Load("stats");
    public RedisScript Cancel { get; } = Load("cancel");
    public RedisScript SchedulePut { get; } = Load("schedule_put");
    public RedisScript ScheduleDelete { get; } = Load("schedule_delete");
    public RedisScript ScheduleFire { get; } = Load("schedule_fire");
    public RedisScript Schedules { get; } = Load("schedules");
    public RedisScript Progress { get; } = Load("progress");
    public RedisScript WebhookClaim { get; } = Load("webhook_claim");
    public RedisScript WebhookDone { get; } = Load("webhook_done");

    public IEnumerable<RedisScript> All => [Enqueue, Claim, Lease, Complete, Fail, Renew, Promote, Sweep, Release, Retry, Pause, Resume, Get, FailedPage, Purge, Stats, Cancel,
        SchedulePut, ScheduleDelete, ScheduleFire, Schedules, Progress, WebhookClaim, WebhookDone];

    private static RedisScript Load(string name) => RedisScript.Load(typeof(QueueScripts).Assembly, ResourcePrefix, name);
}
