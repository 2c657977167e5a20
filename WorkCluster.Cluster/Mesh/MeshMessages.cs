using System.Text.Json;
using System.Text.Json.Serialization;

namespace WorkCluster.Cluster.Mesh;

/// <summary>Names a mesh message contract on the wire.</summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class MeshMessageAttribute(string name) : Attribute
{
    public string Name { get; } = name;
}

/// <summary>What travels between nodes: a message's name, its sender and its body (JSON).</summary>
public sealed record MeshEnvelope(
    [property: JsonPropertyName("type")] string Type,
    [property: JsonPropertyName("from")] string From,
    [property: JsonPropertyName("body")] JsonElement Body,
    [property: JsonPropertyName("error")] string? Error = null);

/// <summary>Round trip to a node: it answers with a <see cref="Pong"/>.</summary>
[MeshMessage("ping")]
public sealed record Ping([property: JsonPropertyName("sent_at")] DateTimeOffset SentAt);

[MeshMessage("pong")]
public sealed record Pong([property: JsonPropertyName("node")] string Node, [property: JsonPropertyName("sent_at")] DateTimeOffset SentAt);

/// <summary>Asks a node for its statistics: it answers with <see cref="NodeStats"/>.</summary>
[MeshMessage("info")]
public sealed record InfoRequest;

/// <summary>A node's description and the notes it has received lately.</summary>
[MeshMessage("node-stats")]
public sealed record NodeStats(
    [property: JsonPropertyName("node")] NodeInfo Node,
    [property: JsonPropertyName("recent_notes")] IReadOnlyList<ReceivedNote> RecentNotes);

/// <summary>Asks a node to ping every peer it is connected to.</summary>
[MeshMessage("ping-peers")]
public sealed record PingPeers;

[MeshMessage("ping-peers-reply")]
public sealed record PingPeersReply(
    [property: JsonPropertyName("node")] string Node,
    [property: JsonPropertyName("peers")] IReadOnlyList<PeerPing> Peers);

/// <summary>One peer's answer to a ping: its round-trip time, or why there was none.</summary>
public sealed record PeerPing(
    [property: JsonPropertyName("node")] string Node,
    [property: JsonPropertyName("rtt_ms")] double? RttMs,
    [property: JsonPropertyName("error")] string? Error);

/// <summary>A one-way text message; a node keeps the last few it received.</summary>
[MeshMessage("note")]
public sealed record Note([property: JsonPropertyName("text")] string Text);

public sealed record ReceivedNote(
    [property: JsonPropertyName("from")] string From,
    [property: JsonPropertyName("text")] string Text,
    [property: JsonPropertyName("received_at")] DateTimeOffset ReceivedAt);

/// <summary>Asks a node to broadcast a <see cref="Note"/> to all its peers; it answers with who got it.</summary>
[MeshMessage("broadcast-note")]
public sealed record BroadcastNote([property: JsonPropertyName("text")] string Text);

[MeshMessage("broadcast-note-reply")]
public sealed record BroadcastNoteReply([property: JsonPropertyName("node")] string Node, [property: JsonPropertyName("sent_to")] IReadOnlyList<string> SentTo);

/// <summary>Runs a work handler on the receiving node: "spawn" work on a peer.</summary>
[MeshMessage("run")]
public sealed record RunWork([property: JsonPropertyName("type")] string Type, [property: JsonPropertyName("data")] JsonElement Data);

[MeshMessage("run-result")]
public sealed record RunWorkResult(
    [property: JsonPropertyName("node")] string Node,
    [property: JsonPropertyName("type")] string Type,
    [property: JsonPropertyName("result")] JsonElement Result,
    [property: JsonPropertyName("duration_ms")] double DurationMs);

/// <summary>
/// Tells the worker holding a job's lease that the job's cancellation was requested: the handler running under that
/// lease is asked to stop (or, if its claim's reply is not handled yet, the attempt is cancelled as it starts). It
/// answers whether it runs such an attempt now.
/// </summary>
[MeshMessage("cancel-job")]
public sealed record CancelJob([property: JsonPropertyName("id")] string Id, [property: JsonPropertyName("lease")] string Lease);

[MeshMessage("cancel-job-reply")]
public sealed record CancelJobReply([property: JsonPropertyName("node")] string Node, [property: JsonPropertyName("running")] bool Running);

/// <summary>The name a message contract travels under.</summary>
public static class MeshMessageName
{
    public static string Of<T>() => Of(typeof(T));

    public static string Of(Type type) =>
        (type.GetCustomAttributes(typeof(MeshMessageAttribute), false).FirstOrDefault() as MeshMessageAttribute)?.Name
        ?? throw new InvalidOperationException($"{type.Name} is not a mesh message: give it a [MeshMessage(\"name\")] attribute.");
}
