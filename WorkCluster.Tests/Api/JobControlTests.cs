using Aspire.Hosting;
using WorkCluster.Tests.Infrastructure;
using Xunit.Abstractions;

namespace WorkCluster.Tests.Api;

/// <summary>Priorities and delays through the API, worked by the real workers.</summary>
[Collection(ThreeWorkersCollection.Name)]
public sealed class JobControlTests(ThreeWorkersAppFixture app, ITestOutputHelper output) : IAsyncLifetime
{
    public Task InitializeAsync() => app.RestoreAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task A_thousand_jobs_submitted_while_paused_are_worked_highest_priority_first_and_in_order_within_each()
    {
        var ids = new List<(string Id, int Priority)>();
        await app.ExecuteCommandAsync("cluster", ClusterMonitorExtensions.PauseCommand);
        try
        {
            // Four clients submit at once; within a priority the order is the order the API accepted them in.
            var streams = await Task.WhenAll(Enumerable.Range(0, 4).Select(async stream =>
            {
                var mine = new List<(string, int)>();
                for (var i = stream; i < 1000; i += 4)
                {
                    var priority = (i * 7) % 10;
                    var accepted = await app.Work.SubmitAsync("noop", i.ToString(), priority: priority);
                    mine.Add((accepted.Id, priority));
                }
                return mine;
            }));
            ids.AddRange(streams.SelectMany(s => s));
            var waiting = await app.Work.GetAsync(ids[0].Id);
            Assert.Equal("pending", waiting?.GetProperty("status").GetString());

            // The ready queue holds them highest priority first.
            var redis = await app.RedisAsync();
            var mine = ids.ToDictionary(i => i.Id, i => i.Priority);
            var ready = (await redis.SortedSetRangeByRankAsync(AppFixture.QueueKeys.Ready)).Select(v => (string)v!).Where(mine.ContainsKey).ToArray();
            var levels = ready.Select(id => mine[id]).ToArray();
            output.WriteLine($"ready before resuming: {ready.Length} of them; priorities out of order: " +
                $"{levels.Zip(levels.Skip(1)).Count(pair => pair.Second > pair.First)}");
            Assert.Equal(ids.Count, ready.Length);
            Assert.Equal(levels.OrderByDescending(l => l), levels);
        }
        finally
        {
            await app.ExecuteCommandAsync("cluster", ClusterMonitorExtensions.ResumeCommand);
        }

        var jobs = await app.Work.WaitForAllAsync(ids.Select(i => i.Id), "worked");

        // In priority order, then in order of acceptance, the claims' times never go back: 3 workers claimed them in
        // exactly that order (jobs accepted in the same millisecond may be claimed either way).
        var order = jobs
            .Select(j => (Id: j.GetProperty("id").GetString(), Priority: j.GetProperty("priority").GetInt32(),
                Created: j.GetProperty("created_at").GetDateTimeOffset(), Started: j.GetProperty("started_at").GetDateTimeOffset(),
                Attempts: j.GetProperty("attempts").GetInt32(), Worker: j.GetProperty("worker").GetString()))
            .OrderByDescending(j => j.Priority).ThenBy(j => j.Created).ThenBy(j => j.Started)
            .ToArray();
        var inversions = order.Zip(order.Skip(1)).Where(pair => pair.Second.Started < pair.First.Started).ToArray();
        output.WriteLine($"1,000 jobs over priorities 0-9, accepted while paused, worked in {(order.Max(j => j.Started) - order.Min(j => j.Started)).TotalMilliseconds:F0} ms " +
            $"by 3 workers; claims out of priority-then-acceptance order: {inversions.Length}; attempts > 1: {order.Count(j => j.Attempts > 1)}");
        foreach (var (first, second) in inversions.Take(5))
        {
            output.WriteLine($"  {first.Id} p{first.Priority} created {first.Created:HH:mm:ss.fff} started {first.Started:HH:mm:ss.fff} on {first.Worker}" +
                $" / then {second.Id} p{second.Priority} created {second.Created:HH:mm:ss.fff} started {second.Started:HH:mm:ss.fff} on {second.Worker}");
        }
        // GET shows each job's priority as submitted (the default, 5, included).
        Assert.Equal(ids.ToDictionary(i => i.Id, i => i.Priority), order.ToDictionary(j => j.Id!, j => j.Priority));
        Assert.Empty(inversions);
    }

    [Fact]
    public async Task A_job_delayed_through_the_api_is_scheduled_until_its_time_then_worked()
    {
        using var response = await app.Work.PostRawAsync("""{"type":"echo","data":"later","delay_ms":1500}""");
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var id = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("callback").GetString()!;

        var scheduled = (await app.Work.GetAsync(id))!.Value;
        Assert.Equal("scheduled", scheduled.GetProperty("status").GetString());
        var runAt = scheduled.GetProperty("run_at").GetDateTimeOffset();
        Assert.Equal(scheduled.GetProperty("created_at").GetDateTimeOffset().AddMilliseconds(1500), runAt);

        var worked = await app.Work.WaitForStatusAsync(id, "worked", TimeSpan.FromSeconds(10));
        var started = worked.GetProperty("started_at").GetDateTimeOffset();
        output.WriteLine($"delay_ms 1500: started {(started - runAt).TotalMilliseconds:F0} ms after its run_at");
        Assert.True(started >= runAt, $"started {(runAt - started).TotalMilliseconds} ms before its time");
        Assert.Equal("later", worked.GetProperty("result").GetString());
    }
}
