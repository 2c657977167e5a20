using System.Text.Json;
using Microsoft.Extensions.Options;
using StackExchange.Redis;
using WorkCluster.Redis;

namespace WorkCluster.Cluster;

/// <summary>
/// The cluster's membership in Redis (the registry store, see <see cref="ClusterStore"/>): who is alive, and what
/// each node says about itself. Nothing about jobs depends on it: work is recovered by its leases.
/// </summary>
public sealed class ClusterRegistry(IConnectionMultiplexer redis, ClusterScripts scripts, ClusterKeys keys, IOptions<ClusterOptions> options)
{
    public ClusterKeys Keys { get; } = keys;

    private readonly ScriptKeys _heartbeatKeys = keys.Bind(scripts.Heartbeat, "node");
    private readonly ScriptKeys _touchKeys = keys.Bind(scripts.Touch, "node");
    private readonly ScriptKeys _leaveKeys = keys.Bind(scripts.Leave, "node");
    private readonly ScriptKeys _membersKeys = keys.Bind(scripts.Members);

    private IDatabase Db => redis.GetDatabase();

    /// <summary>Registers or refreshes <paramref name="node"/> for one heartbeat TTL. Returns false if it (re)joined.</summary>
    public async Task<bool> HeartbeatAsync(NodeInfo node)
    {
        var existed = await scripts.Heartbeat.EvaluateAsync(Db, _heartbeatKeys.Keys(("node", Keys.Node(node.Id))),
            [node.Id, JsonSerializer.Serialize(node, ClusterJson.Default.NodeInfo), (long)options.Value.HeartbeatTtl.TotalMilliseconds])
            .ConfigureAwait(false);
        return (long)existed == 1;
    }

    /// <summary>
    /// Registers or refreshes <paramref name="node"/>, a worker of the HTTP lease protocol (its
    /// <see cref="NodeInfo.Protocol"/> is <c>http</c>), for <paramref name="ttl"/>. Returns null if its id is that of
    /// a live node of another kind (a mesh member), which it may not replace; else whether it was registered already.
    /// </summary>
    public async Task<bool?> RegisterHttpWorkerAsync(NodeInfo node, TimeSpan ttl)
    {
        var existed = (long)await scripts.Heartbeat.EvaluateAsync(Db, _heartbeatKeys.Keys(("node", Keys.Node(node.Id))),
            [node.Id, JsonSerializer.Serialize(node with { Protocol = NodeInfo.HttpProtocol }, ClusterJson.Default.NodeInfo),
                (long)ttl.TotalMilliseconds, NodeInfo.HttpProtocol])
            .ConfigureAwait(false);
        return existed < 0 ? null : existed == 1;
    }

    /// <summary>Keeps <paramref name="nodeId"/>'s registration (if it has one) for <paramref name="ttl"/> more. Returns whether it had one.</summary>
    public async Task<bool> TouchAsync(string nodeId, TimeSpan ttl) =>
        (long)await scripts.Touch.EvaluateAsync(Db, _touchKeys.Keys(("node", Keys.Node(nodeId))), [nodeId, (long)ttl.TotalMilliseconds])
            .ConfigureAwait(false) == 1;

    /// <summary>Ends <paramref name="nodeId"/>'s membership now.</summary>
    public Task LeaveAsync(string nodeId) => scripts.Leave.EvaluateAsync(Db, _leaveKeys.Keys(("node", Keys.Node(nodeId))), [nodeId]);

    /// <summary>The living nodes, as each described itself in its last heartbeat, ordered by id.</summary>
    public async Task<IReadOnlyList<NodeInfo>> GetMembersAsync()
    {
        var ids = ((RedisResult[])(await scripts.Members.EvaluateAsync(Db, _membersKeys.Keys(), []).ConfigureAwait(false))!)
            .Select(r => (string)r!).ToArray();
        if (ids.Length == 0)
        {
            return [];
        }
        var values = await Db.StringGetAsync(ids.Select(id => (RedisKey)Keys.Node(id)).ToArray()).ConfigureAwait(false);
        return values
            .Where(v => v.HasValue) // expired between the two reads
            .Select(v => JsonSerializer.Deserialize((string)v!, ClusterJson.Default.NodeInfo)!)
            .OrderBy(n => n.Id, StringComparer.Ordinal)
            .ToArray();
    }
}
