using System.ComponentModel.DataAnnotations;

namespace WorkCluster.Cluster;

/// <summary>Settings of cluster membership and the mesh, from the <c>Cluster</c> configuration section.</summary>
public sealed class ClusterOptions
{
    public const string SectionName = "Cluster";

    /// <summary>
    /// How long a node counts as alive after its last heartbeat. Nodes beat every third of it, so two beats may
    /// be lost before the node is presumed dead.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.300", "01:00:00")]
    public TimeSpan HeartbeatTtl { get; set; } = TimeSpan.FromSeconds(6);

    /// <summary>Every third of <see cref="HeartbeatTtl"/>: how often a node beats, the dead are swept and the mesh follows membership.</summary>
    public TimeSpan HeartbeatInterval => HeartbeatTtl / 3;

    /// <summary>
    /// The shared secret that admits a process to the mesh (like an Erlang cookie). Required to open or accept a
    /// mesh connection; never sent: connections carry a short-lived HMAC of it.
    /// </summary>
    [MinLength(16)]
    public string? Secret { get; set; }

    /// <summary>The port of this node's mesh endpoint; 0: a free one, chosen by the operating system at start.</summary>
    [Range(0, 65535)]
    public int MeshPort { get; set; }

    /// <summary>
    /// The host name peers reach this node's mesh endpoint at. Unset: the container's host name inside a
    /// container (the endpoint then listens on every interface), else <c>127.0.0.1</c> (loopback only).
    /// </summary>
    public string? MeshHost { get; set; }

    /// <summary>
    /// The name of the connection string (<c>ConnectionStrings:{Store}</c>) of the Redis the registry lives in.
    /// Unset (or <c>redis</c>): the work store. Read once at start.
    /// </summary>
    [RegularExpression("^[A-Za-z0-9_-]{1,64}$")]
    public string? Store { get; set; }

    /// <summary>How long a mesh request waits for its reply unless the caller says otherwise.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "01:00:00")]
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(30);
}
