using System.Collections.Concurrent;
using System.Diagnostics;

namespace WorkCluster.Cluster.Mesh;

/// <summary><c>ping</c>: answers at once, so the sender can time the round trip.</summary>
public sealed class PingHandler(NodeIdentity identity) : IMeshRequestHandler<Ping, Pong>
{
    public Task<Pong> HandleAsync(Ping request, MeshContext context, CancellationToken cancellationToken) =>
        Task.FromResult(new Pong(identity.Id, request.SentAt));
}

/// <summary><c>info</c>: this node's description and the notes it received lately.</summary>
public sealed class InfoHandler(NodeDescriber describer, NotesInbox notes) : IMeshRequestHandler<InfoRequest, NodeStats>
{
    public Task<NodeStats> HandleAsync(InfoRequest request, MeshContext context, CancellationToken cancellationToken) =>
        Task.FromResult(new NodeStats(describer.Describe(), notes.Recent));
}

/// <summary><c>ping-peers</c>: pings every connected peer, all at once, and reports each round-trip time.</summary>
public sealed class PingPeersHandler(IMesh mesh) : IMeshRequestHandler<PingPeers, PingPeersReply>
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);

    public async Task<PingPeersReply> HandleAsync(PingPeers request, MeshContext context, CancellationToken cancellationToken)
    {
        var pings = await Task.WhenAll(mesh.ConnectedPeers.Select(async peer =>
        {
            var started = Stopwatch.GetTimestamp();
            try
            {
                await mesh.PingAsync(peer, Timeout, cancellationToken);
                return new PeerPing(peer, Math.Round(Stopwatch.GetElapsedTime(started).TotalMilliseconds, 3), null);
            }
            catch (Exception e) when (e is TimeoutException or MeshUnreachableException or MeshRequestException)
            {
                return new PeerPing(peer, null, e.Message);
            }
        }));
        return new PingPeersReply(mesh.NodeId, pings);
    }
}

/// <summary>The last notes this node received, newest first.</summary>
public sealed class NotesInbox
{
    private const int Capacity = 32;
    private readonly ConcurrentQueue<ReceivedNote> _notes = new();

    public IReadOnlyList<ReceivedNote> Recent => _notes.Reverse().ToArray();

    public void Add(ReceivedNote note)
    {
        _notes.Enqueue(note);
        while (_notes.Count > Capacity && _notes.TryDequeue(out _))
        {
        }
    }
}

/// <summary><c>note</c>: keeps it in the inbox.</summary>
public sealed class NoteHandler(NotesInbox inbox) : IMeshMessageHandler<Note>
{
    public Task HandleAsync(Note message, MeshContext context, CancellationToken cancellationToken)
    {
        inbox.Add(new ReceivedNote(context.From, message.Text, DateTimeOffset.UtcNow));
        return Task.CompletedTask;
    }
}

/// <summary><c>broadcast-note</c>: broadcasts the note to every connected peer.</summary>
public sealed class BroadcastNoteHandler(IMesh mesh) : IMeshRequestHandler<BroadcastNote, BroadcastNoteReply>
{
    public async Task<BroadcastNoteReply> HandleAsync(BroadcastNote request, MeshContext context, CancellationToken cancellationToken) =>
        new(mesh.NodeId, await mesh.BroadcastAsync(new Note(request.Text), cancellationToken));
}

/// <summary>Reports this node's mesh address and connected peers with every heartbeat.</summary>
public sealed class MeshStatus(MeshPeers peers, MeshEndpoint endpoint) : INodeStatus
{
    public NodeInfo Describe(NodeInfo basic) => basic with { MeshAddress = endpoint.Address, Peers = peers.Connected };
}
