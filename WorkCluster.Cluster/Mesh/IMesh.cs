using System.Text.Json;

namespace WorkCluster.Cluster.Mesh;

/// <summary>
/// Messages between the nodes of the cluster, over their direct, authenticated connections: send, broadcast,
/// request/reply, and running work on a peer.
/// </summary>
public interface IMesh
{
    /// <summary>This process's id on the mesh.</summary>
    string NodeId { get; }

    /// <summary>The peers this process has an open connection to.</summary>
    IReadOnlyList<string> ConnectedPeers { get; }

    /// <summary>The live members of the cluster (from Redis; the last ones seen while Redis is away).</summary>
    Task<IReadOnlyList<NodeInfo>> GetMembersAsync();

    /// <summary>Sends a one-way message to <paramref name="node"/>.</summary>
    Task SendAsync<TMessage>(string node, TMessage message, CancellationToken cancellationToken = default);

    /// <summary>Sends a one-way message to every connected peer; returns who it was sent to.</summary>
    Task<IReadOnlyList<string>> BroadcastAsync<TMessage>(TMessage message, CancellationToken cancellationToken = default);

    /// <summary>Sends a request to <paramref name="node"/> and waits for its reply, at most <paramref name="timeout"/>.</summary>
    /// <exception cref="MeshUnknownNodeException">The node is not a live member.</exception>
    /// <exception cref="MeshUnreachableException">The node cannot be reached.</exception>
    /// <exception cref="MeshRequestException">The node's handler failed.</exception>
    /// <exception cref="TimeoutException">No reply in time.</exception>
    Task<TResponse> RequestAsync<TRequest, TResponse>(string node, TRequest request, TimeSpan? timeout = null,
        CancellationToken cancellationToken = default);

    /// <summary>Runs work of type <paramref name="workType"/> on <paramref name="node"/> and returns its result.</summary>
    Task<RunWorkResult> RunOnAsync(string node, string workType, JsonElement data, TimeSpan? timeout = null,
        CancellationToken cancellationToken = default);

    /// <summary>The round-trip time of a ping to <paramref name="node"/>.</summary>
    Task<TimeSpan> PingAsync(string node, TimeSpan? timeout = null, CancellationToken cancellationToken = default);
}
