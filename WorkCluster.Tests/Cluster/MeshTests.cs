using System.Diagnostics;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.SignalR.Client;
using WorkCluster.Cluster;
using WorkCluster.Cluster.Mesh;
using WorkCluster.Tests.Infrastructure;
using Xunit.Abstractions;

namespace WorkCluster.Tests.Cluster;

/// <summary>Workers find each other in Redis and talk directly, over real processes: 3 worker replicas.</summary>
[Collection(ThreeWorkersCollection.Name)]
public sealed class MeshTests(ThreeWorkersAppFixture app, ITestOutputHelper output) : IAsyncLifetime
{
    public Task InitializeAsync() => app.RestoreAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    private const string ClusterPath = "/api/v1/cluster";
    private static readonly TimeSpan Ttl = ThreeWorkersAppFixture.HeartbeatTtl;
    private static readonly TimeSpan Interval = ThreeWorkersAppFixture.HeartbeatInterval;

    [Fact]
    public async Task A_restarted_worker_rejoins_and_the_membership_converges_to_a_full_mesh_of_three()
    {
        var workers = await app.WaitForHealthyReplicasAsync("worker", 3, Eventually.DefaultPatience);
        var victim = workers[2];
        var process = app.GetProcess(victim);
        ProcessTree.Signal(process, 15);
        await ProcessTree.WaitForExitAsync(process);
        await Eventually.HoldsAsync(async () => (await GetClusterAsync()).GetProperty("count").GetInt32() == 2, "the stopped worker stayed a member");

        await app.ExecuteCommandAsync(victim, "start");
        await Eventually.HoldsAsync(async () => (await GetClusterAsync()).GetProperty("count").GetInt32() == 3, "the restarted worker never joined");
        var joined = Stopwatch.StartNew();
        await Eventually.HoldsAsync(async () => IsFullMesh(await GetClusterAsync(), 3), "the mesh never became complete");
        var converged = joined.Elapsed;

        var cluster = await GetClusterAsync();
        output.WriteLine($"membership 3 and a full mesh {converged.TotalMilliseconds:F0} ms after the new member was first listed " +
            $"(heartbeat TTL {Ttl.TotalSeconds} s): {cluster}");
        Assert.True(converged <= 2 * Ttl, $"convergence took {converged}");
        foreach (var member in cluster.GetProperty("members").EnumerateArray())
        {
            Assert.StartsWith("http://127.0.0.1:", member.GetProperty("mesh_address").GetString());
            Assert.InRange(member.GetProperty("heartbeat_age_ms").GetInt64(), 0, (long)Ttl.TotalMilliseconds);
            Assert.Contains("sha256", member.GetProperty("work_types").EnumerateArray().Select(t => t.GetString()));
        }
        await app.WaitForHealthyReplicasAsync("worker", 3, Eventually.DefaultPatience);
    }

    [Fact]
    public async Task Request_reply_between_two_named_workers_and_ping_through_the_api()
    {
        var members = await FullMeshAsync();
        var (a, b) = (members[0], members[1]);
        await using var client = await MeshClient.StartAsync(app);

        // The test asks a to send a request to every peer, b among them, and report the replies.
        var reply = await client.Mesh.RequestAsync<PingPeers, PingPeersReply>(a, new PingPeers());
        Assert.Equal(a, reply.Node);
        Assert.Equal(members.Where(m => m != a).Order(), reply.Peers.Select(p => p.Node).Order());
        Assert.All(reply.Peers, p => Assert.True(p.RttMs > 0, $"no round trip to {p.Node}: {p.Error}"));
        var stats = await client.Mesh.RequestAsync<InfoRequest, NodeStats>(b, new InfoRequest());
        Assert.Equal(b, stats.Node.Id);

        // The same through the public API, via the gateway.
        using var response = await app.Gateway.PostAsJsonAsync($"{ClusterPath}/ping", new { node = b });
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        output.WriteLine($"POST {ClusterPath}/ping: {body}");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(b, body.GetProperty("node").GetString());
        Assert.Equal(2, body.GetProperty("peers").EnumerateArray().Count(p => p.GetProperty("rtt_ms").GetDouble() > 0));
    }

    [Fact]
    public async Task A_broadcast_reaches_every_other_worker()
    {
        var members = await FullMeshAsync();
        await using var client = await MeshClient.StartAsync(app);
        var text = $"hello {Guid.NewGuid()}";

        // The members' descriptions (what FullMeshAsync reads) are as old as their last heartbeat: a connection they list
        // may still be forming. Broadcast until it goes to every peer.
        BroadcastNoteReply? reply = null;
        await Eventually.HoldsAsync(async () =>
        {
            reply = await client.Mesh.RequestAsync<BroadcastNote, BroadcastNoteReply>(members[0], new BroadcastNote(text));
            return reply.SentTo.Order().SequenceEqual(members.Skip(1).Order());
        }, $"{members[0]} never broadcast to every peer", TimeSpan.FromSeconds(10));
        foreach (var peer in members.Skip(1))
        {
            await Eventually.HoldsAsync(async () =>
            {
                var stats = await client.Mesh.RequestAsync<InfoRequest, NodeStats>(peer, new InfoRequest());
                return stats.RecentNotes.Any(n => n.Text == text && n.From == members[0]);
            }, $"{peer} never received the broadcast", TimeSpan.FromSeconds(10));
        }
    }

    [Fact]
    public async Task Work_run_on_a_peer_returns_the_peers_result_through_the_library_and_the_api()
    {
        var members = await FullMeshAsync();
        await using var client = await MeshClient.StartAsync(app);
        var expected = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes("\"foo\"")));

        var direct = await client.Mesh.RunOnAsync(members[1], "sha256", JsonDocument.Parse("\"foo\"").RootElement);
        Assert.Equal(members[1], direct.Node);
        Assert.Equal(expected, direct.Result.GetString());

        using var named = await app.Gateway.PostAsJsonAsync($"{ClusterPath}/run", new { node = members[2], type = "echo", data = new { a = 1 } });
        var namedBody = await named.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(HttpStatusCode.OK, named.StatusCode);
        Assert.Equal(members[2], namedBody.GetProperty("node").GetString());
        Assert.Equal(1, namedBody.GetProperty("result").GetProperty("a").GetInt32());

        using var any = await app.Gateway.PostAsJsonAsync($"{ClusterPath}/run", new { type = "sha256", data = "foo" });
        var anyBody = await any.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(HttpStatusCode.OK, any.StatusCode);
        Assert.Contains(anyBody.GetProperty("node").GetString(), members);
        Assert.Equal(expected, anyBody.GetProperty("result").GetString());
    }

    [Fact]
    public async Task Cluster_endpoints_answer_mistakes_with_problems()
    {
        await FullMeshAsync();

        using var unknownNode = await app.Gateway.PostAsJsonAsync($"{ClusterPath}/run", new { node = "nobody", type = "echo", data = 1 });
        using var unknownType = await app.Gateway.PostAsJsonAsync($"{ClusterPath}/run", new { type = "nope", data = 1 });
        using var failing = await app.Gateway.PostAsJsonAsync($"{ClusterPath}/run", new { type = "flaky", data = new { error = "boom" } });
        using var badPing = await app.Gateway.PostAsync($"{ClusterPath}/ping", new StringContent("{", Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.NotFound, unknownNode.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, unknownType.StatusCode);
        Assert.Equal(HttpStatusCode.BadGateway, failing.StatusCode);
        Assert.Contains("boom", await failing.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.BadRequest, badPing.StatusCode);
        Assert.All(new[] { unknownNode, unknownType, failing, badPing },
            r => Assert.Equal("application/problem+json", r.Content.Headers.ContentType?.MediaType));
    }

    [Fact]
    public async Task A_mesh_connection_without_the_cluster_secret_is_refused()
    {
        await FullMeshAsync();
        var first = (await GetClusterAsync()).GetProperty("members")[0];
        var address = first.GetProperty("mesh_address").GetString()!;
        using var http = new HttpClient();

        using var none = await http.GetAsync(address);
        var forged = new HttpRequestMessage(HttpMethod.Get, address);
        forged.Headers.Authorization = new AuthenticationHeaderValue("Bearer", $"intruder.{DateTimeOffset.UtcNow.ToUnixTimeSeconds()}.{new string('0', 64)}");
        using var wrong = await http.SendAsync(forged);
        Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);

        // A SignalR client signing with another secret cannot connect.
        var stranger = new HubConnectionBuilder()
            .WithUrl(address, o =>
            {
                o.Transports = Microsoft.AspNetCore.Http.Connections.HttpTransportType.WebSockets;
                o.SkipNegotiation = true;
                o.AccessTokenProvider = () => Task.FromResult<string?>(SignWithWrongSecret("intruder"));
            })
            .Build();
        var refused = await Assert.ThrowsAnyAsync<Exception>(() => stranger.StartAsync());
        output.WriteLine($"stranger refused: {refused.Message}");
        Assert.Contains("401", refused.Message);
        await stranger.DisposeAsync();
    }

    [Fact]
    public async Task A_mesh_token_opens_one_connection_to_the_node_it_names_once_and_only_from_the_authorization_header()
    {
        await FullMeshAsync();
        var members = (await GetClusterAsync()).GetProperty("members").EnumerateArray()
            .Select(m => (Id: m.GetProperty("id").GetString()!, Address: m.GetProperty("mesh_address").GetString()!)).ToArray();
        var (target, other) = (members[0], members[1]);
        // A caller whose node id holds characters a token's separators are made of still gets in.
        var credentials = Credentials(await app.GetParameterAsync("cluster-secret"), "odd.node id/ü.\n.");
        using var http = new HttpClient();

        async Task<HttpStatusCode> GetHubAsync(string address, string? token, bool inQuery = false)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, inQuery ? $"{address}?access_token={Uri.EscapeDataString(token!)}" : address);
            if (!inQuery && token is not null)
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            }
            using var response = await http.SendAsync(request);
            return response.StatusCode;
        }

        var token = credentials.CreateToken(target.Id);
        Assert.Equal(HttpStatusCode.Unauthorized, await GetHubAsync(other.Address, token));          // for another node
        Assert.NotEqual(HttpStatusCode.Unauthorized, await GetHubAsync(target.Address, token));      // admitted (then not a WebSocket: 4xx)
        Assert.Equal(HttpStatusCode.Unauthorized, await GetHubAsync(target.Address, token));         // a replay
        Assert.Equal(HttpStatusCode.Unauthorized, await GetHubAsync(target.Address, credentials.CreateToken(target.Id), inQuery: true));
        // Made more than the allowed skew ago (a captured token kept for later): refused.
        var stale = Credentials(await app.GetParameterAsync("cluster-secret"), "odd.node id/ü.\n.",
            new ShiftedClock(-MeshCredentials.MaxClockSkew - TimeSpan.FromSeconds(5))).CreateToken(target.Id);
        Assert.Equal(HttpStatusCode.Unauthorized, await GetHubAsync(target.Address, stale));

        // A real connection with such a token works, and its caller is known by its odd id.
        var connection = new HubConnectionBuilder()
            .WithUrl(target.Address, o =>
            {
                o.Transports = Microsoft.AspNetCore.Http.Connections.HttpTransportType.WebSockets;
                o.SkipNegotiation = true;
                o.AccessTokenProvider = () => Task.FromResult<string?>(credentials.CreateToken(target.Id));
            })
            .Build();
        await connection.StartAsync();
        Assert.Equal(HubConnectionState.Connected, connection.State);
        await connection.DisposeAsync();
    }

    [Fact]
    public async Task A_killed_worker_leaves_the_membership_within_ttl_plus_an_interval_and_its_peers_drop_it()
    {
        var workers = await app.WaitForHealthyReplicasAsync("worker", 3, Eventually.DefaultPatience);
        await FullMeshAsync();
        var process = app.GetProcess(workers[0]);
        var node = await app.NodeIdOfAsync(process.Id);

        ProcessTree.Signal(process, 9);
        var killed = Stopwatch.StartNew();
        await Eventually.HoldsAsync(async () =>
        {
            var members = (await GetClusterAsync()).GetProperty("members").EnumerateArray().ToArray();
            return members.All(m => m.GetProperty("id").GetString() != node);
        }, "the killed worker stayed a member");
        var left = killed.Elapsed;
        await Eventually.HoldsAsync(async () => IsFullMesh(await GetClusterAsync(), 2), "peers kept the killed worker");
        var dropped = killed.Elapsed;

        output.WriteLine($"kill -9 of {node}: gone from the membership after {left.TotalMilliseconds:F0} ms, " +
            $"dropped by its peers after {dropped.TotalMilliseconds:F0} ms (TTL {Ttl.TotalSeconds} s, interval {Interval.TotalMilliseconds:F0} ms)");
        // Allowance on top of TTL + interval: the heartbeats that report dropped peers, and a busy machine.
        Assert.True(left <= Ttl + Interval + TimeSpan.FromSeconds(2), $"left after {left}");
        Assert.True(dropped <= Ttl + 2 * Interval + TimeSpan.FromSeconds(2), $"dropped after {dropped}");

        await app.ExecuteCommandAsync(workers[0], "start");
        await app.WaitForHealthyReplicasAsync("worker", 3, Eventually.DefaultPatience);
    }

    [Fact]
    public async Task While_the_registry_is_down_the_existing_mesh_still_carries_a_ping_and_membership_converges_when_it_returns()
    {
        await app.WaitForHealthyReplicasAsync("worker", 3, Eventually.DefaultPatience);
        await FullMeshAsync();
        var workers = (await app.WaitForHealthyReplicasAsync("worker", 3, Eventually.DefaultPatience)).Select(app.GetProcess).ToArray();

        // The Redis that membership lives in (this app gives the registry a store of its own).
        var registry = app.GetProcess(app.RegistryResource);
        ProcessTree.Signal(registry, 9);
        await ProcessTree.WaitForExitAsync(registry);
        await Task.Delay(Ttl); // long enough for every liveness key to lapse

        using var ping = await app.Gateway.PostAsync($"{ClusterPath}/ping", null);
        var pingBody = await ping.Content.ReadAsStringAsync();
        output.WriteLine($"ping during the registry's outage: {(int)ping.StatusCode} {pingBody}");
        Assert.Equal(HttpStatusCode.OK, ping.StatusCode);
        Assert.Equal(2, JsonDocument.Parse(pingBody).RootElement.GetProperty("peers").EnumerateArray()
            .Count(p => p.TryGetProperty("rtt_ms", out var rtt) && rtt.ValueKind == JsonValueKind.Number));
        Assert.All(workers, w => Assert.False(w.HasExited, $"worker {w.Id} died while the registry was down"));

        await app.StartAndWaitHealthyAsync(app.RegistryResource);
        var back = Stopwatch.StartNew();
        await Eventually.HoldsAsync(async () => IsFullMesh(await GetClusterAsync(), 3), "membership never converged after the registry returned");
        output.WriteLine($"membership back to 3 with a full mesh {back.Elapsed.TotalMilliseconds:F0} ms after the registry was healthy again");
        Assert.All(workers, w => Assert.False(w.HasExited, $"worker {w.Id} died"));
    }

    private async Task<JsonElement> GetClusterAsync()
    {
        using var response = await app.Gateway.GetAsync(ClusterPath);
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).Clone();
    }

    /// <summary>Waits for a complete mesh of the 3 workers; returns their ids, sorted.</summary>
    private async Task<string[]> FullMeshAsync()
    {
        await Eventually.HoldsAsync(async () => IsFullMesh(await GetClusterAsync(), 3), "no full mesh of 3 workers");
        return (await GetClusterAsync()).GetProperty("members").EnumerateArray().Select(m => m.GetProperty("id").GetString()!).Order().ToArray();
    }

    private static bool IsFullMesh(JsonElement cluster, int size)
    {
        var members = cluster.GetProperty("members").EnumerateArray().ToArray();
        var ids = members.Select(m => m.GetProperty("id").GetString()!).ToHashSet();
        return members.Length == size && members.All(m =>
            m.GetProperty("peers").EnumerateArray().Select(p => p.GetString()!).ToHashSet()
                .SetEquals(ids.Where(id => id != m.GetProperty("id").GetString())));
    }

    private static string SignWithWrongSecret(string node) => Credentials("not-the-cluster-secret-at-all", "intruder").CreateToken(node);

    /// <summary>Token making as node <paramref name="from"/> does it, with <paramref name="secret"/>.</summary>
    private static MeshCredentials Credentials(string secret, string from, TimeProvider? clock = null) =>
        new(Microsoft.Extensions.Options.Options.Create(new ClusterOptions { Secret = secret }), clock ?? TimeProvider.System,
            new NodeIdentity(from, from, DateTimeOffset.UtcNow));

    /// <summary>This machine's clock, moved by <paramref name="shift"/>.</summary>
    private sealed class ShiftedClock(TimeSpan shift) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + shift;
    }
}
