using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.SignalR;

namespace WorkCluster.Cluster.Mesh;

/// <summary>
/// A node's mesh endpoint. Peers call it over their own connection to this node; the sender of every message is
/// the node the connection authenticated as, so it cannot be forged.
/// </summary>
[Authorize(Policy = MeshEndpoint.AuthorizationPolicy)]
public sealed class MeshHub(MeshDispatcher dispatcher) : Hub
{
    /// <summary>A one-way message.</summary>
    public Task Send(MeshEnvelope message) => dispatcher.DeliverAsync(message with { From = Caller }, Context.ConnectionAborted);

    /// <summary>A request: the reply is the return value.</summary>
    public Task<MeshEnvelope> Request(MeshEnvelope request) => dispatcher.RequestAsync(request with { From = Caller }, Context.ConnectionAborted);

    private string Caller => Context.User?.FindFirst(ClusterSecretAuthentication.NodeClaim)?.Value
        ?? throw new HubException("unauthenticated");
}
