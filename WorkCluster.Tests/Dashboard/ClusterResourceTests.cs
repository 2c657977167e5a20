using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using WorkCluster.Tests.Infrastructure;
using Xunit.Abstractions;

namespace WorkCluster.Tests.Dashboard;

/// <summary>The <c>cluster</c> resource the AppHost shows in the dashboard, and its commands.</summary>
[Collection(ClusterCollection.Name)]
public sealed class ClusterResourceTests(ClusterAppFixture app, ITestOutputHelper output)
{
    private const string Cluster = "cluster";

    [Fact]
    public void The_stores_resource_says_which_store_runs_and_why()
    {
        Assert.True(app.App.ResourceNotifications.TryGetCurrentState("redis", out var state));
        var store = state.Snapshot.Properties.SingleOrDefault(p => p.Name == "workcluster.store")?.Value as string;
        output.WriteLine($"Store: {store}");
        Assert.NotNull(store);
        // The fixture names the store it wants (Redis:Mode), so the reason given is that setting.
        Assert.Equal(TestStore.IsGarnet ? "Garnet (embedded, WorkCluster.Store): Redis:Mode=garnet" : "redis-server: Redis:Mode=executable", store);
    }

    [Fact]
    public async Task The_cluster_resource_shows_the_members_as_children_and_a_queue_depth_that_follows_the_work()
    {
        var snapshot = await WaitForClusterAsync(s => s.State?.Text == "Running" && Property(s, "Live members") == "2", "two live members");
        output.WriteLine(string.Join(Environment.NewLine, snapshot.Properties.Select(p => $"{p.Name} = {p.Value}")));
        await Eventually.HoldsAsync(() => Task.FromResult(Children() is { Count: 2 } children && children.All(c => Property(c, "Peers") != "")),
            "the workers never appeared as connected children");
        // Every upkeep duty shows how its last run went, run by one of the app's API or worker processes.
        var upkeep = await WaitForClusterAsync(s => new[] { "sweep", "promote", "purge", "repair", "schedules" }
            .All(duty => Property(s, $"Upkeep: {duty}")?.StartsWith("ok ", StringComparison.Ordinal) == true), "every upkeep duty shown ok");
        Assert.Matches(@"^ok \d+\.\d s ago \((api|worker)-[^,]+, \d+ ms\)$", Property(upkeep, "Upkeep: sweep"));
        var child = Children()[0];
        Assert.Equal("Running", child.State?.Text);
        Assert.Contains("sha256", Property(child, "Work types"));

        var workedBefore = long.Parse(Property(snapshot, "Worked (total)")!);
        try
        {
            await app.ExecuteCommandAsync(Cluster, ClusterMonitorExtensions.PauseCommand);
            await WaitForClusterAsync(s => Property(s, "Queue paused") == "True", "the queue shows paused");

            var jobs = new List<string>();
            for (var i = 0; i < 6; i++)
            {
                jobs.Add((await app.Work.SubmitAsync("sleep", """{"sleep_ms":50}""")).Id);
            }
            await WaitForClusterAsync(s => Property(s, "Queue depth") == "6", "a queue depth of 6");
            foreach (var id in jobs)
            {
                Assert.Equal("pending", (await app.Work.GetAsync(id))?.GetProperty("status").GetString()); // nobody claims
            }

            await app.ExecuteCommandAsync(Cluster, ClusterMonitorExtensions.ResumeCommand);
            await app.Work.WaitForAllAsync(jobs, "worked");
            var after = await WaitForClusterAsync(s => Property(s, "Queue depth") == "0" && Property(s, "Queue paused") == "False"
                && long.Parse(Property(s, "Worked (total)")!) >= workedBefore + jobs.Count, "the queue drained");
            output.WriteLine($"after resume: {string.Join(", ", after.Properties.Select(p => $"{p.Name} = {p.Value}"))}");
        }
        finally
        {
            await app.ExecuteCommandAsync(Cluster, ClusterMonitorExtensions.ResumeCommand);
        }
    }

    [Fact]
    public async Task The_ping_mesh_command_reports_the_round_trip_times()
    {
        await WaitForClusterAsync(s => Property(s, "Live members") == "2", "two live members");
        await Eventually.HoldsAsync(() => Task.FromResult(Children().All(c => Property(c, "Peers") != "")), "the workers never connected");

        var result = await app.App.ResourceCommands.ExecuteCommandAsync(Cluster, ClusterMonitorExtensions.PingCommand);

        output.WriteLine(result.Message);
        Assert.True(result.Success, result.Message);
        Assert.Matches(@"worker-\S+ → worker-\S+: \d+\.\d\d ms", result.Message);
    }

    [Fact]
    public async Task The_requeue_failed_command_sends_the_dead_letter_back_to_the_queue()
    {
        var job = await app.Work.SubmitAsync("flaky", """{"error":"always"}""");
        var failed = await app.Work.WaitForStatusAsync(job.Id, "failed");

        var result = await app.App.ResourceCommands.ExecuteCommandAsync(Cluster, ClusterMonitorExtensions.RequeueFailedCommand);

        Assert.True(result.Success, result.Message);
        output.WriteLine(result.Message);
        // Back in the queue, it runs all its attempts again and fails anew.
        await Eventually.HoldsAsync(async () =>
        {
            var again = await app.Work.GetAsync(job.Id);
            return again?.GetProperty("status").GetString() == "failed"
                && again.Value.GetProperty("finished_at").GetDateTimeOffset() > failed.GetProperty("finished_at").GetDateTimeOffset()
                && again.Value.GetProperty("attempts").GetInt32() == ClusterAppFixture.MaxAttempts;
        }, "the requeued job did not run again");
    }

    private async Task<CustomResourceSnapshot> WaitForClusterAsync(Func<CustomResourceSnapshot, bool> condition, string what)
    {
        CustomResourceSnapshot? snapshot = null;
        await Eventually.HoldsAsync(() =>
        {
            snapshot = app.App.ResourceNotifications.TryGetCurrentState(Cluster, out var e) ? e.Snapshot : null;
            return Task.FromResult(snapshot is not null && condition(snapshot));
        }, $"the cluster resource never showed {what}; last: {Describe(snapshot)}", TimeSpan.FromSeconds(30));
        return snapshot!;
    }

    private List<CustomResourceSnapshot> Children()
    {
        // Children are created at run time and are not in the model: look them up by the members' ids.
        var children = new List<CustomResourceSnapshot>();
        foreach (var id in MemberIds())
        {
            if (app.App.ResourceNotifications.TryGetCurrentState(id, out var e) && Property(e.Snapshot, "resource.parentName") == Cluster && !e.Snapshot.IsHidden)
            {
                children.Add(e.Snapshot);
            }
        }
        return children;
    }

    private IEnumerable<string> MemberIds()
    {
        var cluster = app.Gateway.GetFromJsonAsync<JsonElement>("/api/v1/cluster").GetAwaiter().GetResult();
        return cluster.GetProperty("members").EnumerateArray().Select(m => m.GetProperty("id").GetString()!).ToArray();
    }

    [Fact]
    public async Task The_cluster_resource_links_to_the_live_stream_of_the_cluster_events_through_the_gateway()
    {
        var snapshot = await WaitForClusterAsync(s => s.Urls.Any(u => u.Name == "events"), "a link to the live events");
        var link = new Uri(snapshot.Urls.Single(u => u.Name == "events").Url);
        Assert.Equal("/api/v1/events", link.AbsolutePath);
        Assert.Equal(app.Gateway.BaseAddress!.Port, link.Port);

        await using var stream = await SseClient.OpenAsync(app.Gateway, link.PathAndQuery + "?type=accepted");
        var id = (await app.Work.SubmitAsync("echo", "1")).Id;
        SseClient.Event? accepted;
        do
        {
            accepted = await stream.NextAsync();
            Assert.NotNull(accepted);
        }
        while (accepted.Json.GetProperty("id").GetString() != id);
        Assert.Equal("accepted", accepted.Name);
    }

    private static string? Property(CustomResourceSnapshot snapshot, string name) =>
        snapshot.Properties.FirstOrDefault(p => p.Name == name)?.Value?.ToString();

    private static string Describe(CustomResourceSnapshot? snapshot) =>
        snapshot is null ? "none" : $"{snapshot.State?.Text}: {string.Join(", ", snapshot.Properties.Select(p => $"{p.Name}={p.Value}"))}";
}
