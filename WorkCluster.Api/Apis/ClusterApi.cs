using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using WorkCluster.Cluster;
using WorkCluster.Cluster.Mesh;
using WorkCluster.Handlers;

using WorkCluster.Api.Security;

namespace WorkCluster.Api.Apis;

/// <summary>The cluster's membership and its mesh, seen and used through the API: <c>/api/v1/cluster</c>.</summary>
public static class ClusterApi
{
    public const string BasePath = "/api/v1/cluster";

    public static RouteGroupBuilder MapClusterApiV1(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup(BasePath).WithTags("Cluster").RequireScope(ApiScopes.Admin);

        api.MapGet("/", GetCluster)
            .WithName("GetCluster")
            .WithSummary("The live workers: heartbeat age, load, work types and the peers each is connected to.")
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);

        api.MapPost("/ping", PingMesh)
            .WithName("PingMesh")
            .WithSummary("Asks one worker (the body's 'node', or any) to ping every peer over the mesh; returns the round-trip times.")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status502BadGateway)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable)
            .ProducesProblem(StatusCodes.Status504GatewayTimeout);

        api.MapPost("/run", RunOnNode)
            .WithName("RunOnNode")
            .WithSummary("Runs work on a named worker (or any that has the type) through the mesh, and returns its result.")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .ProducesProblem(StatusCodes.Status502BadGateway)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable)
            .ProducesProblem(StatusCodes.Status504GatewayTimeout);

        return api;
    }

    /// <summary>The dependencies of the cluster endpoints.</summary>
    public sealed class ClusterServices(ClusterRegistry registry, IMesh mesh, WorkTypes types, IOptions<WorkApiOptions> options, TimeProvider time)
    {
        public ClusterRegistry Registry { get; } = registry;
        public IMesh Mesh { get; } = mesh;
        public WorkTypes Types { get; } = types;
        public IOptions<WorkApiOptions> Options { get; } = options;
        public TimeProvider Time { get; } = time;
    }

    public static async Task<Ok<ClusterView>> GetCluster([AsParameters] ClusterServices services)
    {
        var now = services.Time.GetUtcNow();
        var members = await services.Registry.GetMembersAsync();
        return TypedResults.Ok(new ClusterView(members.Count, members.Select(m => MemberView.From(m, now)).ToArray()));
    }

    public static async Task<Results<Ok<PingPeersReply>, ProblemHttpResult>> PingMesh(HttpContext context, [AsParameters] ClusterServices services)
    {
        string? node = null;
        if (context.Request.ContentLength is > 0 || context.Request.Headers.TransferEncoding.Count > 0)
        {
            // The same rules as every body (content type, size, depth, valid text); this one only ever names a node.
            var (document, _, problem) = await WorkRequestReader.ReadJsonObjectAsync(context, MaxPingBodyBytes, $"{MaxPingBodyBytes} bytes for a ping");
            if (document is null)
            {
                return problem!;
            }
            using (document)
            {
                if (document.RootElement.TryGetProperty("node", out var named) && named.ValueKind != JsonValueKind.Null)
                {
                    if (named.ValueKind != JsonValueKind.String || named.GetString() is not { Length: > 0 } id)
                    {
                        return Problems.Create(StatusCodes.Status400BadRequest, "'node' must be a node id",
                            "Name a member listed by GET /api/v1/cluster, or leave 'node' out to let the cluster choose.");
                    }
                    node = id;
                }
            }
        }

        node ??= services.Mesh.ConnectedPeers.FirstOrDefault() ?? (await services.Mesh.GetMembersAsync()).FirstOrDefault(m => m.InMesh)?.Id;
        if (node is null)
        {
            return NoWorkers();
        }
        return await CallAsync(node, () => services.Mesh.RequestAsync<PingPeers, PingPeersReply>(node, new PingPeers()));
    }

    public static async Task<Results<Ok<RunWorkResult>, ProblemHttpResult>> RunOnNode(HttpContext context, [AsParameters] ClusterServices services)
    {
        var (work, problem) = await WorkRequestReader.ReadAsync(context, services.Types, services.Options.Value.MaxPayloadBytes, allowNode: true);
        if (work is null)
        {
            return problem!;
        }

        var node = work.Node;
        if (node is null)
        {
            var able = (await services.Mesh.GetMembersAsync()).Where(m => m.InMesh && m.WorkTypes.Contains(work.Type)).Select(m => m.Id).ToArray();
            if (able.Length == 0)
            {
                return NoWorkers();
            }
            // Prefer a worker this API instance is already connected to.
            var connected = able.Intersect(services.Mesh.ConnectedPeers).ToArray();
            node = connected.Length > 0 ? connected[Random.Shared.Next(connected.Length)] : able[Random.Shared.Next(able.Length)];
        }

        using var data = JsonDocument.Parse(work.Data);
        var root = data.RootElement.Clone();
        return await CallAsync(node, () => services.Mesh.RunOnAsync(node, work.Type, root));
    }

    private static async Task<Results<Ok<T>, ProblemHttpResult>> CallAsync<T>(string node, Func<Task<T>> call)
    {
        try
        {
            return TypedResults.Ok(await call());
        }
        catch (MeshUnknownNodeException)
        {
            return Problems.Create(StatusCodes.Status404NotFound, "No such node",
                $"{node} is not a live member of the cluster; GET {BasePath} lists the members.");
        }
        catch (MeshUnreachableException e)
        {
            return Problems.Create(StatusCodes.Status502BadGateway, "Node unreachable", e.Message);
        }
        catch (MeshRequestException e)
        {
            return Problems.Create(StatusCodes.Status502BadGateway, "The node failed", e.Message);
        }
        catch (TimeoutException e)
        {
            return Problems.Create(StatusCodes.Status504GatewayTimeout, "The node did not answer in time", e.Message);
        }
    }

    private static ProblemHttpResult NoWorkers() =>
        Problems.Create(StatusCodes.Status503ServiceUnavailable, "No worker is available",
            "No live worker is known that can do this; try again when workers have joined.");

    /// <summary>The largest body a ping takes: it only ever names a node.</summary>
    public const int MaxPingBodyBytes = 4096;
}

/// <summary>The cluster's live members.</summary>
public sealed record ClusterView(
    [property: JsonPropertyName("count")] int Count,
    [property: JsonPropertyName("members")] IReadOnlyList<MemberView> Members);

/// <summary>One live member as its last heartbeat described it.</summary>
public sealed record MemberView
{
    [JsonPropertyName("id")] public required string Id { get; init; }
    [JsonPropertyName("host")] public required string Host { get; init; }
    [JsonPropertyName("pid")] public int Pid { get; init; }
    [JsonPropertyName("mesh_address")] public string? MeshAddress { get; init; }
    [JsonPropertyName("started_at")] public DateTimeOffset StartedAt { get; init; }
    [JsonPropertyName("version")] public string? Version { get; init; }
    [JsonPropertyName("heartbeat_age_ms")] public long HeartbeatAgeMs { get; init; }
    [JsonPropertyName("work_types")] public IReadOnlyList<string> WorkTypes { get; init; } = [];
    [JsonPropertyName("in_flight")] public int InFlight { get; init; }
    [JsonPropertyName("processed")] public long Processed { get; init; }
    [JsonPropertyName("peers")] public IReadOnlyList<string> Peers { get; init; } = [];

    /// <summary>Whether it is a mesh member (a .NET node). Workers of the HTTP lease protocol are not: no message reaches them.</summary>
    [JsonPropertyName("mesh")] public bool Mesh { get; init; }

    /// <summary>'http' for a worker of the HTTP lease protocol (POST /api/v1/leases); absent for a mesh member.</summary>
    [JsonPropertyName("protocol")] public string? Protocol { get; init; }

    /// <summary>The language an HTTP worker says it is written in.</summary>
    [JsonPropertyName("language")] public string? Language { get; init; }

    public static MemberView From(NodeInfo node, DateTimeOffset now) => new()
    {
        Id = node.Id,
        Host = node.Host,
        Pid = node.Pid,
        MeshAddress = node.MeshAddress,
        StartedAt = node.StartedAt,
        Version = node.Version,
        HeartbeatAgeMs = Math.Max(0, (long)(now - node.HeartbeatAt).TotalMilliseconds),
        WorkTypes = node.WorkTypes,
        InFlight = node.InFlight,
        Processed = node.Processed,
        Peers = node.Peers,
        Mesh = node.InMesh,
        Protocol = node.Protocol,
        Language = node.Language,
    };
}
