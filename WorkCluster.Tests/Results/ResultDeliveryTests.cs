using System.Diagnostics;
using Aspire.Hosting;
using Microsoft.Extensions.Options;
using StackExchange.Redis;
using WorkCluster.Cluster;
using WorkCluster.Redis;
using WorkCluster.Tests.Infrastructure;
using Xunit.Abstractions;

namespace WorkCluster.Tests.Results;

/// <summary>
/// Results that come to the client, on the real app through the gateway: a GET that waits for the end, the job's
/// event stream, the cluster's event stream, and callback URLs refused where they may not go.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class ResultDeliveryTests(ClusterAppFixture app, ITestOutputHelper output)
{
    [Fact]
    public async Task A_waiting_get_answers_as_soon_as_the_job_is_worked()
    {
        var latencies = new List<double>();
        for (var i = 0; i < 10; i++)
        {
            var job = await app.Work.SubmitAsync("sleep", """{"sleep_ms":300}""");
            var asked = Stopwatch.StartNew();
            using var response = await app.Gateway.GetAsync($"/api/v1/work/{job.Id}?wait=30");
            var answered = DateTimeOffset.UtcNow;
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var body = await response.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Equal("worked", body.GetProperty("status").GetString());
            Assert.Equal(300, body.GetProperty("result").GetProperty("slept_ms").GetInt32(), tolerance: 100);
            // Woken by the job's end, not by the end of the wait (30 s).
            Assert.True(asked.Elapsed < TimeSpan.FromSeconds(10), $"the wait took {asked.Elapsed}");
            latencies.Add((answered - body.GetProperty("finished_at").GetDateTimeOffset()).TotalMilliseconds);
        }
        latencies.Sort();
        output.WriteLine($"worked → waiting GET answered (through the gateway), 10 jobs: median {latencies[5]:F1} ms, max {latencies[^1]:F1} ms");
    }

    [Fact]
    public async Task A_wait_that_ends_first_answers_the_status_as_it_is_and_a_wrong_wait_is_a_problem()
    {
        var job = await app.Work.SubmitAsync("sleep", """{"sleep_ms":3000}""");
        var asked = Stopwatch.StartNew();
        var body = await app.Gateway.GetFromJsonAsync<JsonElement>($"/api/v1/work/{job.Id}?wait=1");
        Assert.Contains(body.GetProperty("status").GetString(), new[] { "pending", "working" });
        Assert.True(asked.Elapsed >= TimeSpan.FromMilliseconds(900), $"answered after {asked.Elapsed}, before the wait ended");

        foreach (var wait in new[] { "abc", "-1", "61", "1.5" })
        {
            using var response = await app.Gateway.GetAsync($"/api/v1/work/{job.Id}?wait={wait}");
            var problem = await response.Content.ReadAsStringAsync();
            if (response.StatusCode != HttpStatusCode.BadRequest)
            {
                var logs = new List<string>();
                foreach (var api in await app.WaitForHealthyReplicasAsync("api", app.ApiReplicas, Eventually.DefaultPatience))
                {
                    logs.Add($"--- {api}:\n{await app.LogTailAsync(api, 40)}");
                }
                Assert.Fail($"?wait={wait} answered {(int)response.StatusCode}: {problem}\n{string.Join("\n", logs)}");
            }
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            Assert.Contains("Work:MaxWaitSeconds", problem);
        }
        using var unknown = await app.Gateway.GetAsync("/api/v1/work/AAAAAAAAAAAAAAAAAAAAAA?wait=5");
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
    }

    [Fact]
    public async Task A_thousand_waiters_on_one_replica_share_its_one_subscription_and_all_return()
    {
        var redis = await app.RedisAsync();
        var port = app.ApiReplicaPorts()[0];
        using var replica = AppFixture.UseKey(new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = int.MaxValue })
        {
            BaseAddress = new Uri($"http://127.0.0.1:{port}"),
            Timeout = TimeSpan.FromSeconds(60),
        }, app.AdminKey);
        var jobs = new List<string>();
        for (var i = 0; i < 10; i++)
        {
            jobs.Add((await app.Work.SubmitAsync("sleep", """{"sleep_ms":2500}""")).Id);
        }

        var waits = Enumerable.Range(0, 1000).Select(async i =>
        {
            using var response = await replica.GetAsync($"/api/v1/work/{jobs[i % jobs.Count]}?wait=30");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("status").GetString();
        }).ToArray();

        // While they wait: the event channel has one subscriber per API replica that listens, at most: never one per request.
        var subscribers = new List<long>();
        for (var i = 0; i < 10 && !waits.All(w => w.IsCompleted); i++)
        {
            subscribers.Add(await SubscribersAsync(redis));
            await Task.Delay(200);
        }
        var statuses = await Task.WhenAll(waits);
        Assert.All(statuses, s => Assert.Equal("worked", s));
        Assert.NotEmpty(subscribers);
        Assert.All(subscribers, count => Assert.InRange(count, 1, app.ApiReplicas));
        output.WriteLine($"1,000 waiting GETs on one replica: subscribers of the event channel while they waited: {string.Join(", ", subscribers)} " +
            $"(at most one per API replica; {app.ApiReplicas} replicas)");
    }

    [Fact]
    public async Task The_job_stream_shows_pending_working_progress_and_worked_in_order_and_ends()
    {
        await app.ExecuteCommandAsync("cluster", ClusterMonitorExtensions.PauseCommand);
        List<SseClient.Event> events = [];
        try
        {
            var job = await app.Work.SubmitAsync("sleep", """{"sleep_ms":1500}""");
            await using var stream = await SseClient.OpenAsync(app.Gateway, $"/api/v1/work/{job.Id}/events");
            events.Add((await stream.NextAsync())!);
            Assert.Equal("pending", events[0].Name);
            await app.ExecuteCommandAsync("cluster", ClusterMonitorExtensions.ResumeCommand);
            while (await stream.NextAsync() is { } next)
            {
                events.Add(next);
            }
        }
        finally
        {
            await app.ExecuteCommandAsync("cluster", ClusterMonitorExtensions.ResumeCommand);
        }

        var names = events.Select(e => e.Name).ToArray();
        output.WriteLine($"events: {string.Join(" → ", names)}");
        Assert.Equal("working", names[1]);
        Assert.Equal("worked", names[^1]);
        Assert.All(names[2..^1], n => Assert.Equal("progress", n));
        Assert.True(names.Length - 3 >= 2, $"expected progress events between working and worked: {string.Join(", ", names)}");
        var percents = events.Where(e => e.Name == "progress").Select(e => e.Json.GetProperty("progress").GetProperty("percent").GetDouble()).ToArray();
        Assert.Equal(percents.Order(), percents);
        Assert.All(events, e => Assert.NotNull(e.Id));
        Assert.Equal(1500, events[^1].Json.GetProperty("result").GetProperty("slept_ms").GetInt32(), tolerance: 200);
    }

    [Fact]
    public async Task A_client_that_reconnects_mid_stream_gets_the_current_state_then_live_events_and_still_sees_worked()
    {
        var job = await app.Work.SubmitAsync("sleep", """{"sleep_ms":2000}""");
        string? lastId;
        await using (var first = await SseClient.OpenAsync(app.Gateway, $"/api/v1/work/{job.Id}/events"))
        {
            SseClient.Event? e;
            do
            {
                e = await first.NextAsync();
                Assert.NotNull(e);
            }
            while (e.Name != "progress");
            lastId = e.Id;
        }

        await Task.Delay(300); // changes happen while the client is away
        await using var second = await SseClient.OpenAsync(app.Gateway, $"/api/v1/work/{job.Id}/events", lastId);
        var current = (await second.NextAsync())!;
        Assert.Contains(current.Name, new[] { "working", "worked" });
        var last = current;
        while (await second.NextAsync() is { } next)
        {
            last = next;
        }
        Assert.Equal("worked", last.Name);
        Assert.Equal("worked", last.Json.GetProperty("status").GetString());
    }

    [Fact]
    public async Task The_cluster_stream_carries_the_events_asked_for_and_refuses_unknown_filters()
    {
        await using var stream = await SseClient.OpenAsync(app.Gateway, "/api/v1/events?type=worked&kind=echo");
        await Task.Delay(200);
        var echoes = new HashSet<string>();
        for (var i = 0; i < 3; i++)
        {
            echoes.Add((await app.Work.SubmitAsync("echo", $"\"{i}\"")).Id);
        }
        var noop = (await app.Work.SubmitAsync("noop", "1")).Id;

        var seen = new HashSet<string>();
        while (!echoes.IsSubsetOf(seen))
        {
            var e = (await stream.NextAsync())!;
            Assert.Equal("worked", e.Name);
            Assert.Equal("worked", e.Json.GetProperty("type").GetString());
            Assert.Equal("echo", e.Json.GetProperty("kind").GetString());
            Assert.NotEqual(noop, e.Json.GetProperty("id").GetString());
            seen.Add(e.Json.GetProperty("id").GetString()!);
        }

        foreach (var query in new[] { "type=bogus", "type=worked,nope", "kind=no-such-type" })
        {
            using var response = await app.Gateway.GetAsync($"/api/v1/events?{query}");
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        }
    }

    [Fact]
    public async Task Members_joining_leaving_and_expiring_show_on_the_cluster_stream()
    {
        await using var stream = await SseClient.OpenAsync(app.Gateway, "/api/v1/events?type=member.left,member.joined");
        await Task.Delay(200);
        // A member of the test's own, through the real registry scripts: no process of the app is disturbed.
        var registry = new ClusterRegistry((await app.RegistryAsync()).Multiplexer, new ClusterScripts(), new ClusterKeys(new RedisKeyspace("wc")),
            Options.Create(new ClusterOptions { HeartbeatTtl = TimeSpan.FromSeconds(1) }));
        var node = new NodeInfo { Id = $"test-member-{Guid.NewGuid():N}", Host = "test", Pid = Environment.ProcessId };

        await registry.HeartbeatAsync(node);
        var joined = await NextForAsync(stream, "member.joined", node.Id);
        Assert.Equal("test", joined.GetProperty("member").GetProperty("host").GetString());
        await registry.LeaveAsync(node.Id);
        Assert.Equal("stopped", (await NextForAsync(stream, "member.left", node.Id)).GetProperty("reason").GetString());

        // One that stops beating: the next heartbeat of any member (the workers') notices its key has expired.
        var silent = node with { Id = node.Id + "-silent" };
        await registry.HeartbeatAsync(silent);
        await NextForAsync(stream, "member.joined", silent.Id);
        Assert.Equal("heartbeat expired", (await NextForAsync(stream, "member.left", silent.Id)).GetProperty("reason").GetString());
    }

    private static async Task<JsonElement> NextForAsync(SseClient stream, string type, string node)
    {
        while (true)
        {
            var e = await stream.NextAsync(TimeSpan.FromSeconds(30));
            Assert.NotNull(e);
            if (e.Name == type && e.Json.GetProperty("node").GetString() == node)
            {
                return e.Json;
            }
        }
    }

    [Theory]
    [InlineData("http://127.0.0.1/hook", "loopback")]
    [InlineData("http://localhost:8080/hook", "loopback")]
    [InlineData("http://10.1.2.3/hook", "private")]
    [InlineData("http://169.254.169.254/latest/meta-data", "private")]
    [InlineData("http://[::1]/hook", "loopback")]
    [InlineData("http://[fd00::1]/hook", "private")]
    [InlineData("ftp://example.com/hook", "http or https")]
    [InlineData("not a url", "http or https")]
    [InlineData("https://user:secret@example.com/hook", "user name")]
    public async Task A_callback_url_that_may_not_be_called_is_refused_at_submission(string url, string why)
    {
        using var response = await app.Work.PostRawAsync($$"""{"type":"echo","data":1,"callback_url":{{JsonSerializer.Serialize(url)}}}""");
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("callback_url", body);
        Assert.Contains(why, body);
    }

    [Fact]
    public async Task A_public_callback_url_is_accepted_and_shown_with_the_job()
    {
        using var response = await app.Work.PostRawAsync("""{"type":"echo","data":1,"callback_url":"https://example.com/hooks?x=1"}""");
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var id = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("callback").GetString()!;
        var job = await app.Work.GetAsync(id);
        Assert.Equal("https://example.com/hooks?x=1", job!.Value.GetProperty("callback_url").GetString());
    }

    private static async Task<long> SubscribersAsync(IDatabase redis)
    {
        var reply = (RedisResult[])(await redis.ExecuteAsync("PUBSUB", "NUMSUB", AppFixture.QueueKeys.Events))!;
        return (long)reply[1];
    }
}
