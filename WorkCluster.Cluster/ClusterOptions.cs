using System.ComponentModel.DataAnnotations;

namespace WorkCluster.Cluster;

/// <summary>Settings of cluster membership, from the <c>Cluster</c> configuration section.</summary>
public sealed class ClusterOptions
{
    public const string SectionName = "Cluster";

    /// <summary>
    /// How long a node counts as alive after its last heartbeat. Nodes beat every third of it, so two beats may
    /// be lost before the node is presumed dead.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.300", "01:00:00")]
    public TimeSpan HeartbeatTtl { get; set; } = TimeSpan.FromSeconds(6);

    /// <summary>Every third of <see cref="HeartbeatTtl"/>: how often a node beats and the dead are swept.</summary>
    public TimeSpan HeartbeatInterval => HeartbeatTtl / 3;
}
