namespace WorkCluster.Cluster.Mesh;

/// <summary>Who sent a message, to a handler.</summary>
public sealed record MeshContext(string From);

/// <summary>Handles a one-way message (<see cref="IMesh.SendAsync{TMessage}"/>, <see cref="IMesh.BroadcastAsync{TMessage}"/>).</summary>
public interface IMeshMessageHandler<in TMessage>
{
    Task HandleAsync(TMessage message, MeshContext context, CancellationToken cancellationToken);
}

/// <summary>Answers a request (<see cref="IMesh.RequestAsync{TRequest, TResponse}"/>).</summary>
public interface IMeshRequestHandler<in TRequest, TResponse>
{
    Task<TResponse> HandleAsync(TRequest request, MeshContext context, CancellationToken cancellationToken);
}

/// <summary>A request answered with an error: the peer's handler threw, or it has no handler for the message.</summary>
public sealed class MeshRequestException(string node, string message) : Exception($"{node}: {message}")
{
    public string Node { get; } = node;
}

/// <summary>The node cannot be reached over the mesh.</summary>
public class MeshUnreachableException(string node, string message, Exception? inner = null) : Exception(message, inner)
{
    public string Node { get; } = node;
}

/// <summary>The node is not a live member of the cluster.</summary>
public sealed class MeshUnknownNodeException(string node)
    : MeshUnreachableException(node, $"{node} is not a live member of the cluster.");
