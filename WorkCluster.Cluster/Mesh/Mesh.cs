using System.Diagnostics;
using System.Text.Json;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace WorkCluster.Cluster.Mesh;

/// <summary>The mesh as this process sees it: its peer connections plus the registry to find new ones.</summary>
public sealed class Mesh(MeshPeers peers, MeshDispatcher dispatcher, ClusterRegistry registry, NodeIdentity identity,
    MeshTelemetry telemetry, IOptions<ClusterOptions> options) : IMesh
{
    public string NodeId => identity.Id;

    public IReadOnlyList<string> ConnectedPeers => peers.Connected;

    public async Task<IReadOnlyList<NodeInfo>> GetMembersAsync()
    {
        try
        {
            return await registry.GetMembersAsync();
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            // Redis is away: the mesh still knows who it was connected to.
            return peers.Known;
        }
    }

    public async Task SendAsync<TMessage>(string node, TMessage message, CancellationToken cancellationToken = default)
    {
        var connection = await ConnectionToAsync(node, cancellationToken);
        var envelope = dispatcher.Envelope(message);
        await connection.SendAsync(nameof(MeshHub.Send), envelope, cancellationToken);
        telemetry.Sent(envelope.Type);
    }

    public async Task<IReadOnlyList<string>> BroadcastAsync<TMessage>(TMessage message, CancellationToken cancellationToken = default)
    {
        var envelope = dispatcher.Envelope(message);
        var sent = new List<string>();
        foreach (var peer in peers.Connected)
        {
            if (peers.Find(peer) is { } connection)
            {
                await connection.SendAsync(nameof(MeshHub.Send), envelope, cancellationToken);
                sent.Add(peer);
            }
        }
        telemetry.Sent(envelope.Type, sent.Count);
        return sent;
    }

    public async Task<TResponse> RequestAsync<TRequest, TResponse>(string node, TRequest request, TimeSpan? timeout = null,
        CancellationToken cancellationToken = default)
    {
        var connection = await ConnectionToAsync(node, cancellationToken);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout ?? options.Value.RequestTimeout);
        MeshEnvelope reply;
        var envelope = dispatcher.Envelope(request);
        try
        {
            telemetry.Sent(envelope.Type);
            reply = await connection.InvokeAsync<MeshEnvelope>(nameof(MeshHub.Request), envelope, deadline.Token);
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"{node} did not answer '{MeshMessageName.Of<TRequest>()}' within {timeout ?? options.Value.RequestTimeout}.");
        }
        catch (HubException e)
        {
            throw new MeshRequestException(node, e.Message);
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or HttpRequestException)
        {
            throw new MeshUnreachableException(node, $"The connection to {node} failed: {e.Message}", e);
        }
        if (reply.Error is not null)
        {
            throw new MeshRequestException(node, reply.Error);
        }
        return reply.Body.Deserialize<TResponse>(MeshDispatcher.Json)!;
    }

    public Task<RunWorkResult> RunOnAsync(string node, string workType, JsonElement data, TimeSpan? timeout = null,
        CancellationToken cancellationToken = default) =>
        RequestAsync<RunWork, RunWorkResult>(node, new RunWork(workType, data), timeout, cancellationToken);

    public async Task<TimeSpan> PingAsync(string node, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        var started = Stopwatch.GetTimestamp();
        await RequestAsync<Ping, Pong>(node, new Ping(DateTimeOffset.UtcNow), timeout, cancellationToken);
        return Stopwatch.GetElapsedTime(started);
    }

    private async Task<HubConnection> ConnectionToAsync(string node, CancellationToken cancellationToken)
    {
        if (peers.Find(node) is { } open)
        {
            return open;
        }
        var member = (await GetMembersAsync()).FirstOrDefault(m => m.Id == node)
            ?? throw new MeshUnknownNodeException(node);
        if (member.MeshAddress is null)
        {
            throw new MeshUnreachableException(node, $"{node} has no mesh endpoint.");
        }
        return await peers.ConnectAsync(member, cancellationToken);
    }
}
