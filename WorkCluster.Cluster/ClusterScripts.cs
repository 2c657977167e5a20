using WorkCluster.Redis;

namespace WorkCluster.Cluster;

/// <summary>Every change of cluster membership, one Lua script each (see <c>Scripts/</c>).</summary>
public sealed class ClusterScripts : IRedisScriptSet
{
    private const string ResourcePrefix = "WorkCluster.Cluster.Scripts.";

    public RedisScript Heartbeat { get; } = Load("heartbeat");
    public RedisScript Leave { get; } = Load("leave");
    public RedisScript Members { get; } = Load("members");
    public RedisScript Touch { get; } = Load("touch");

    public IEnumerable<RedisScript> All => [Heartbeat, Leave, Members, Touch];

    private static RedisScript Load(string name) => RedisScript.Load(typeof(ClusterScripts).Assembly, ResourcePrefix, name);
}
