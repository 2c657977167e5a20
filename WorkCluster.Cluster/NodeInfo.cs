using System.Text.Json.Serialization;

namespace WorkCluster.Cluster;

/// <summary>What a node tells the cluster about itself with every heartbeat.</summary>
public sealed record NodeInfo
{
    [JsonPropertyName("id")] public required string Id { get; init; }
    [JsonPropertyName("host")] public required string Host { get; init; }
    [JsonPropertyName("pid")] public int Pid { get; init; }
    [JsonPropertyName("mesh_address")] public string? MeshAddress { get; init; }
    [JsonPropertyName("started_at")] public DateTimeOffset StartedAt { get; init; }
    [JsonPropertyName("heartbeat_at")] public DateTimeOffset HeartbeatAt { get; init; }
    [JsonPropertyName("version")] public string? Version { get; init; }
    [JsonPropertyName("work_types")] public IReadOnlyList<string> WorkTypes { get; init; } = [];
    [JsonPropertyName("in_flight")] public int InFlight { get; init; }
    [JsonPropertyName("processed")] public long Processed { get; init; }
    [JsonPropertyName("peers")] public IReadOnlyList<string> Peers { get; init; } = [];

    /// <summary>The language the worker is written in, as it says (workers of the HTTP lease protocol).</summary>
    [JsonPropertyName("language")] public string? Language { get; init; }

    /// <summary><see cref="HttpProtocol"/> for a worker of the HTTP lease protocol (not a mesh member); null for a mesh member.</summary>
    [JsonPropertyName("protocol")] public string? Protocol { get; init; }

    public const string HttpProtocol = "http";

    /// <summary>Whether it is a member of the mesh (a .NET node), which peers connect to and send messages.</summary>
    [JsonIgnore] public bool InMesh => Protocol != HttpProtocol;
}

[JsonSerializable(typeof(NodeInfo))]
internal sealed partial class ClusterJson : JsonSerializerContext;
