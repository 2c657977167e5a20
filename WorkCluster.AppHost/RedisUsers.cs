using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.Configuration;

namespace Aspire.Hosting;

/// <summary>
/// WorkCluster's Redis users: each kind of process connects as a user of its own that may run only the commands it
/// uses (its own and those its Lua scripts call: Redis checks both) on WorkCluster's keys and events channel. None may
/// run FLUSHALL, CONFIG, KEYS, DEBUG, SHUTDOWN, ACL, MONITOR or CLIENT KILL. The same rules serve the run-mode
/// redis-server (an ACL file the AppHost writes) and the deployment (an ACL file given to Redis as a secret).
/// </summary>
public sealed record RedisUser(string Name, string Commands)
{
    /// <summary>What every connection needs: the handshake, keepalive, scripts (EVALSHA, EVAL once the script cache is lost, SCRIPT LOAD).</summary>
    private const string Connection = "+ping +echo +info +select +client|setname +client|id +cluster|nodes +evalsha +eval +script|load";

    /// <summary>The API: submits, reads, cancels and retries work, keeps schedules and rate limits, listens to events, and takes its turns at the queue's upkeep (sweep, promotion, purge, repair).</summary>
    public static readonly RedisUser Api = new("api", Connection +
        " +get +mget +subscribe +unsubscribe +publish +pubsub|numsub +time +del +exists +set +hdel +hexists +hget +hmget +hincrby +hkeys +hlen +hscan" +
        " +hset +hstrlen +incr +incrby +llen +rpush +rpop +pexpire +zadd +zcard +zpopmin +zrange +zrangebyscore +zrem +zremrangebyscore +zrevrange +zscore");

    /// <summary>The workers: claim, complete, fail, renew, heartbeats, webhooks, schedules, and their turns at the queue's upkeep (sweep, promotion, purge, repair).</summary>
    public static readonly RedisUser Worker = new("worker", Connection +
        " +get +mget +blpop +publish +pubsub|numsub +time +del +exists +set +hdel +hexists +hget +hmget +hincrby +hkeys +hlen +hscan +hset +hstrlen +incr +incrby" +
        " +llen +rpop +rpush +zadd +zcard +zpopmin +zrange +zrangebyscore +zrem +zremrangebyscore +zrevrange +zscore");

    /// <summary>The AppHost's cluster monitor: reads the queue and membership; pauses, resumes and requeues from the dashboard.</summary>
    public static readonly RedisUser Monitor = new("monitor", Connection +
        " +mget +publish +pubsub|numsub +time +del +exists +set +hdel +hexists +hget +hgetall +hincrby +hlen +hset +hstrlen +incr +llen +rpush" +
        " +zadd +zcard +zrange +zrangebyscore +zrem +zrevrange +zscore");

    public static IReadOnlyList<RedisUser> All { get; } = [Api, Worker, Monitor];

    /// <summary>The user's ACL rule, with <paramref name="password"/> as ACL syntax (<c>&gt;secret</c> or <c>#sha256</c>).</summary>
    public string AclRule(string keyPrefix, string password) =>
        $"user {Name} on {password} resetkeys ~{{{keyPrefix}}}:* resetchannels &{{{keyPrefix}}}:events -@all {Commands}";

    /// <summary>The secret parameter holding this user's password (one for every store), made at the first call.</summary>
    public IResourceBuilder<ParameterResource> Password(IDistributedApplicationBuilder builder)
    {
        var name = $"redis-{Name}-password";
        return builder.Resources.OfType<ParameterResource>().FirstOrDefault(p => p.Name == name) is { } existing
            ? builder.CreateResourceBuilder(existing)
            : builder.AddParameter(name, new GenerateParameterDefault { MinLength = 32, Special = false }, secret: true);
    }

    /// <summary>The key prefix every service uses (<c>Work:KeyPrefix</c>, default <c>wc</c>).</summary>
    public static string KeyPrefix(IConfiguration configuration) => configuration["Work:KeyPrefix"] ?? "wc";

    /// <summary>
    /// Whether <paramref name="store"/> has WorkCluster's users: the run-mode redis-server (the AppHost writes its ACL
    /// file) and every published Redis (the deployment gives it one). A Redis container in run mode
    /// (<c>Redis:Mode=container</c>) and the embedded Garnet store have only their default user, with the password.
    /// </summary>
    public static bool HasUsers(IDistributedApplicationBuilder builder, IResource store) =>
        store is RedisServerResource { HasUsers: true } || builder.ExecutionContext.IsPublishMode;

    /// <summary>
    /// The connection string of <paramref name="store"/> as this user: the store's address and this user's password.
    /// </summary>
    public ReferenceExpression ConnectionString(IDistributedApplicationBuilder builder, IResourceWithConnectionString store)
    {
        var password = Password(builder).Resource;
        var endpoint = store switch
        {
            RedisServerResource server => server.PrimaryEndpoint,
            RedisResource container => container.PrimaryEndpoint,
            _ => throw new InvalidOperationException($"'{store.Name}' is not a Redis of WorkCluster."),
        };
        return ReferenceExpression.Create($"{endpoint.Property(EndpointProperty.HostAndPort)},user={Name},password={password}");
    }
}
