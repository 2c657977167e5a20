using System.Security.Cryptography;

namespace WorkCluster.Cluster;

/// <summary>
/// This node's id in the cluster: its instance name plus a random suffix, so that a restarted process is a new
/// node and never mistakes what its previous life left behind for its own. The suffix has 48 random bits: two
/// lives of one instance that share an id, one of them dead with jobs nobody has taken back yet, would hide
/// those jobs from recovery.
/// </summary>
public sealed record NodeIdentity(string Id, string InstanceName, DateTimeOffset StartedAt)
{
    public static NodeIdentity Create(string instanceName) =>
        new($"{instanceName}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6))}", instanceName, DateTimeOffset.UtcNow);
}

/// <summary>Supplies the changing part of this node's description (load, peers) for each heartbeat.</summary>
public interface INodeStatus
{
    NodeInfo Describe(NodeInfo basic);
}
