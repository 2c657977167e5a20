using StackExchange.Redis;

namespace WorkCluster.Queue;

/// <summary>Every state transition of a job, one Lua script each (see <c>Scripts/</c>).</summary>
public sealed class QueueScripts
{
    private const string ResourcePrefix = "WorkCluster.Queue.Scripts.";

    public RedisScript Enqueue { get; } = Load("enqueue");
    public RedisScript Claim { get; } = Load("claim");
    public RedisScript Complete { get; } = Load("complete");
    public RedisScript Fail { get; } = Load("fail");
    public RedisScript Get { get; } = Load("get");
    public RedisScript Purge { get; } = Load("purge");

    public IEnumerable<RedisScript> All => [Enqueue, Claim, Complete, Fail, Get, Purge];

    /// <summary>SCRIPT LOAD of every script on every primary the connection knows.</summary>
    public async Task LoadAllAsync(IConnectionMultiplexer redis)
    {
        foreach (var server in redis.GetServers().Where(s => s.IsConnected && !s.IsReplica))
        {
            foreach (var script in All)
            {
                await script.LoadAsync(server).ConfigureAwait(false);
            }
        }
    }

    private static RedisScript Load(string name) => RedisScript.Load(typeof(QueueScripts).Assembly, ResourcePrefix, name);
}
