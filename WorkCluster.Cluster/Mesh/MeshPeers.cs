using System.Collections.Concurrent;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.Logging;
using WorkCluster.Redis;

namespace WorkCluster.Cluster.Mesh;

/// <summary>
/// This process's connections to the other nodes' mesh endpoints: one per peer, opened as membership says the peer
/// is alive, re-opened after a drop with capped, jittered backoff (so that a restarted node is not stormed), and
/// closed when the peer leaves the membership.
/// </summary>
public sealed partial class MeshPeers(NodeIdentity identity, MeshCredentials credentials, ILogger<MeshPeers> logger) : IAsyncDisposable
{
    private static readonly TimeSpan FirstRetry = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan MaxRetry = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan ConnectPatience = TimeSpan.FromSeconds(5);

    private readonly ConcurrentDictionary<string, Peer> _peers = new(StringComparer.Ordinal);
    private volatile bool _disposed;

    /// <summary>The peers this process has an open connection to, ordered by id.</summary>
    public IReadOnlyList<string> Connected =>
        _peers.Values.Where(p => p.Connection.State == HubConnectionState.Connected).Select(p => p.Node.Id).Order(StringComparer.Ordinal).ToArray();

    /// <summary>The last membership seen: the nodes this process keeps (or tries to keep) a connection to.</summary>
    public IReadOnlyList<NodeInfo> Known => _peers.Values.Select(p => p.Node).OrderBy(n => n.Id, StringComparer.Ordinal).ToArray();

    /// <summary>
    /// Starts connecting to every member not yet connected (when its backoff allows) and drops the rest. Returns
    /// without waiting for the connections: a peer that hangs must not hold up the others or the membership loop.
    /// </summary>
    public void Reconcile(IEnumerable<NodeInfo> members, CancellationToken cancellationToken)
    {
        var wanted = members
            .Where(m => m.Id != identity.Id && Uri.TryCreate(m.MeshAddress, UriKind.Absolute, out _))
            .ToDictionary(m => m.Id, StringComparer.Ordinal);
        foreach (var gone in _peers.Keys.Where(id => !wanted.ContainsKey(id)).ToArray())
        {
            if (_peers.TryRemove(gone, out var peer))
            {
                LogDropped(gone);
                _ = CloseAsync(peer);
            }
        }
        foreach (var member in wanted.Values)
        {
            _ = ConnectInBackgroundAsync(member, cancellationToken);
        }
    }

    private async Task ConnectInBackgroundAsync(NodeInfo member, CancellationToken cancellationToken)
    {
        try
        {
            await EnsureAsync(member, cancellationToken);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested && !_disposed)
        {
            LogBackgroundConnectFailed(e, member.Id);
        }
        catch (Exception)
        {
            // Shutting down.
        }
    }

    /// <summary>
    /// An open connection to <paramref name="node"/>: opened now if there is none, or waited for (a few seconds)
    /// while one is being opened or re-opened.
    /// </summary>
    public async Task<HubConnection> ConnectAsync(NodeInfo node, CancellationToken cancellationToken)
    {
        var peer = await EnsureAsync(node, cancellationToken, ignoreBackoff: true);
        var deadline = DateTimeOffset.UtcNow + ConnectPatience;
        while (peer.Connection.State is HubConnectionState.Connecting or HubConnectionState.Reconnecting && DateTimeOffset.UtcNow < deadline)
        {
            await Task.Delay(20, cancellationToken);
        }
        return peer.Connection.State == HubConnectionState.Connected
            ? peer.Connection
            : throw new MeshUnreachableException(node.Id, $"Node {node.Id} cannot be reached at {node.MeshAddress}: {peer.LastError ?? peer.Connection.State.ToString()}.");
    }

    /// <summary>The open connection to <paramref name="nodeId"/>, if there is one.</summary>
    public HubConnection? Find(string nodeId) =>
        _peers.TryGetValue(nodeId, out var peer) && peer.Connection.State == HubConnectionState.Connected ? peer.Connection : null;

    private async Task<Peer> EnsureAsync(NodeInfo node, CancellationToken cancellationToken, bool ignoreBackoff = false)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var peer = _peers.GetOrAdd(node.Id, _ => new Peer(node, Build(node)));
        if (peer.Node.MeshAddress != node.MeshAddress)
        {
            // Same id, new address: cannot happen with ids unique per process, but never talk to a stale address.
            var fresh = new Peer(node, Build(node));
            if (_peers.TryUpdate(node.Id, fresh, peer))
            {
                _ = CloseAsync(peer);
                peer = fresh;
            }
            else
            {
                await fresh.Connection.DisposeAsync();
                peer = _peers.TryGetValue(node.Id, out var current) ? current : throw new MeshUnreachableException(node.Id, $"Node {node.Id} left the cluster.");
            }
        }
        if (peer.Connection.State != HubConnectionState.Disconnected || (!ignoreBackoff && DateTimeOffset.UtcNow < peer.NextAttempt))
        {
            return peer;
        }
        try
        {
            await peer.Gate.WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            return peer;
        }
        try
        {
            if (peer.Connection.State == HubConnectionState.Disconnected)
            {
                // A peer that accepts the connection and then says nothing must not hold this attempt forever.
                using var patience = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                patience.CancelAfter(ConnectPatience);
                await peer.Connection.StartAsync(patience.Token);
                peer.Failures = 0;
                peer.LastError = null;
                LogConnected(node.Id, node.MeshAddress!);
            }
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            // Refused, unreachable, timed out, or closed under us because the peer left: try again later.
            var reason = e is OperationCanceledException ? $"no answer within {ConnectPatience.TotalSeconds} s" : e.Message;
            peer.LastError = reason;
            peer.NextAttempt = DateTimeOffset.UtcNow + Backoff.FullJitter(FirstRetry, MaxRetry, peer.Failures++);
            LogConnectFailed(node.Id, node.MeshAddress!, reason);
        }
        catch (Exception)
        {
            // Shutting down (cancelled, or the connection disposed under us).
        }
        finally
        {
            peer.Gate.Release();
        }
        return peer;
    }

    private HubConnection Build(NodeInfo node)
    {
        var connection = new HubConnectionBuilder()
            .WithUrl(node.MeshAddress!, options =>
            {
                options.Transports = HttpTransportType.WebSockets;
                options.SkipNegotiation = true;
                // A fresh token for every connection attempt, reconnects included: each is for this peer, and good once.
                options.AccessTokenProvider = () => Task.FromResult<string?>(credentials.CreateToken(node.Id));
            })
            .WithAutomaticReconnect(new JitteredRetryPolicy())
            .WithServerTimeout(TimeSpan.FromSeconds(15))
            .WithKeepAliveInterval(TimeSpan.FromSeconds(5))
            .Build();
        connection.Reconnecting += e => { LogReconnecting(node.Id, e?.Message); return Task.CompletedTask; };
        connection.Reconnected += _ => { LogConnected(node.Id, node.MeshAddress!); return Task.CompletedTask; };
        return connection;
    }

    private async Task CloseAsync(Peer peer)
    {
        try
        {
            await peer.Connection.DisposeAsync();
        }
        catch (Exception e)
        {
            LogCloseFailed(peer.Node.Id, e.Message);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _disposed = true;
        var closing = new List<Task>();
        foreach (var id in _peers.Keys.ToArray())
        {
            if (_peers.TryRemove(id, out var peer))
            {
                closing.Add(CloseAsync(peer));
            }
        }
        await Task.WhenAll(closing);
    }

    private sealed class Peer(NodeInfo node, HubConnection connection)
    {
        public NodeInfo Node { get; } = node;
        public HubConnection Connection { get; } = connection;
        public SemaphoreSlim Gate { get; } = new(1, 1);
        public int Failures { get; set; }
        public DateTimeOffset NextAttempt { get; set; }
        public string? LastError { get; set; }
    }

    /// <summary>Reconnect for as long as the peer is a member (the membership loop disposes it otherwise), capped and jittered.</summary>
    private sealed class JitteredRetryPolicy : IRetryPolicy
    {
        public TimeSpan? NextRetryDelay(RetryContext retryContext) =>
            Backoff.FullJitter(FirstRetry, MaxRetry, (int)Math.Min(retryContext.PreviousRetryCount, 30));
    }

    [LoggerMessage(LogLevel.Information, "Mesh: connected to {Node} at {Address}")]
    private partial void LogConnected(string node, string address);

    [LoggerMessage(LogLevel.Information, "Mesh: connection to {Node} lost, reconnecting: {Reason}")]
    private partial void LogReconnecting(string node, string? reason);

    [LoggerMessage(LogLevel.Debug, "Mesh: cannot connect to {Node} at {Address} yet: {Reason}")]
    private partial void LogConnectFailed(string node, string address, string reason);

    [LoggerMessage(LogLevel.Warning, "Mesh: connecting to {Node} failed unexpectedly; the next membership round tries again")]
    private partial void LogBackgroundConnectFailed(Exception exception, string node);

    [LoggerMessage(LogLevel.Debug, "Mesh: closing the connection to {Node} failed: {Reason}")]
    private partial void LogCloseFailed(string node, string reason);

    [LoggerMessage(LogLevel.Information, "Mesh: {Node} left the cluster; connection closed")]
    private partial void LogDropped(string node);
}
