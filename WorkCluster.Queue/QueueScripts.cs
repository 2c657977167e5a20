using WorkCluster.Redis;

namespace WorkCluster.Queue;

/// <summary>
/// Every state transition of a job, one Lua script each (see <c>Scripts/</c>). Durable: the scripts whose answer a client
/// or a worker acts on (a 202, a claim, an outcome, a job's state as a client is shown it), made durable before it is
/// used (<see cref="StoreCommit"/>); the rest (renewals, the sweep, promotion, purge, progress) are redone or harmless
/// if a crash of the store loses them.
/// </summary>
public sealed class QueueScripts : IRedisScriptSet
{
    private const string ResourcePrefix = "WorkCluster.Queue.Scripts.";

    public RedisScript Enqueue { get; } = Load("enqueue", durable: true);
    public RedisScript Claim { get; } = Load("claim", durable: true);
    public RedisScript Lease { get; } = Load("lease", durable: true);
    public RedisScript Claimed { get; } = Load("claimed", durable: true);
    public RedisScript Complete { get; } = Load("complete", durable: true);
    public RedisScript Fail { get; } = Load("fail", durable: true);
    public RedisScript Renew { get; } = Load("renew");
    public RedisScript Promote { get; } = Load("promote");
    public RedisScript Sweep { get; } = Load("sweep");
    public RedisScript Release { get; } = Load("release", durable: true);
    public RedisScript Retry { get; } = Load("retry", durable: true);
    public RedisScript Pause { get; } = Load("pause", durable: true);
    public RedisScript Resume { get; } = Load("resume", durable: true);
    public RedisScript Get { get; } = Load("get", durable: true);
    public RedisScript FailedPage { get; } = Load("failed", durable: true);
    public RedisScript Purge { get; } = Load("purge");
    public RedisScript Repair { get; } = Load("repair");
    public RedisScript Stats { get; } = Load("stats");
    public RedisScript Cancel { get; } = Load("cancel", durable: true);
    public RedisScript SchedulePut { get; } = Load("schedule_put", durable: true);
    public RedisScript ScheduleDelete { get; } = Load("schedule_delete", durable: true);
    public RedisScript ScheduleFire { get; } = Load("schedule_fire");
    public RedisScript Schedules { get; } = Load("schedules");
    public RedisScript Progress { get; } = Load("progress");
    public RedisScript WebhookClaim { get; } = Load("webhook_claim");
    public RedisScript WebhookDone { get; } = Load("webhook_done");
    public RedisScript Maintained { get; } = Load("maintained");
    public RedisScript Maintenance { get; } = Load("maintenance");
    public RedisScript Turn { get; } = Load("turn");

    public IEnumerable<RedisScript> All => [Enqueue, Claim, Lease, Claimed, Complete, Fail, Renew, Promote, Sweep, Release, Retry, Pause, Resume, Get, FailedPage, Purge, Repair, Stats, Cancel,
        SchedulePut, ScheduleDelete, ScheduleFire, Schedules, Progress, WebhookClaim, WebhookDone, Maintained, Maintenance, Turn];

    private static RedisScript Load(string name, bool durable = false) => RedisScript.Load(typeof(QueueScripts).Assembly, ResourcePrefix, name, durable);
}
