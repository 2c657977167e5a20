using StackExchange.Redis;
using WorkCluster.Redis;

namespace WorkCluster.Cluster;

/// <summary>The Redis keys of cluster membership.</summary>
public sealed class ClusterKeys(RedisKeyspace keyspace)
{
    private readonly string _node = keyspace.Key("node:");

    /// <summary>Sorted set: node id → the time (ms) its liveness key expires.</summary>
    public string Nodes { get; } = keyspace.Key("nodes");

    /// <summary>Pub/sub channel: members joining and leaving (<see cref="RedisKeyspace.Events"/>).</summary>
    public string Events { get; } = keyspace.Events;

    /// <summary>String with a TTL: the node's description while it is alive. Its liveness key.</summary>
    public string Node(string id) => _node + id;

    /// <summary>The key a script names <paramref name="name"/> in its <c>--! keys:</c> line.</summary>
    /// <exception cref="InvalidOperationException">Cluster membership has no key of that name.</exception>
    public RedisKey Named(string name) => name switch
    {
        "nodes" => Nodes,
        "events" => Events,
        _ => throw new InvalidOperationException($"Cluster membership has no key named '{name}'."),
    };

    /// <summary>Binds <paramref name="script"/>'s keys by name (see <see cref="Named"/>); <paramref name="perCall"/> are given at each call.</summary>
    public ScriptKeys Bind(RedisScript script, params string[] perCall) => ScriptKeys.Bind(script, Named, perCall);
}
