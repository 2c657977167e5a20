using System.Reflection;

namespace WorkCluster.Cluster;

/// <summary>Describes this node as it is now: what its heartbeat carries and its <c>info</c> reply tells.</summary>
public sealed class NodeDescriber(NodeIdentity identity, IEnumerable<INodeStatus> statuses)
{
    private static readonly string? Version = Assembly.GetEntryAssembly()?.GetName().Version?.ToString();

    public NodeInfo Describe()
    {
        var info = new NodeInfo
        {
            Id = identity.Id,
            Host = Environment.MachineName,
            Pid = Environment.ProcessId,
            StartedAt = identity.StartedAt,
            HeartbeatAt = DateTimeOffset.UtcNow,
            Version = Version,
        };
        foreach (var status in statuses)
        {
            info = status.Describe(info);
        }
        return info;
    }
}
