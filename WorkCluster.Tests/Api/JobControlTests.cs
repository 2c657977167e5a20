using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
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

    [Fact]
    public async Task Running_jobs_cancelled_through_either_api_replica_stop_on_any_worker_and_free_their_slots()
    {
        // The steady state: every worker has cancelled a job before (a worker another test killed and the orchestrator
        // restarted runs its cancellation path cold at first, which took 0.8-1 s in two CI runs). One at a time, each
        // working before the next: idle workers wait in line for the wake-up, so they take turns.
        for (var i = 0; i < app.WorkerReplicas; i++)
        {
            var warm = (await app.Work.SubmitAsync("sleep", """{"sleep_ms":30000}""")).Id;
            await app.Work.WaitForStatusAsync(warm, "working", TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(20));
            await app.Work.CancelAsync(warm);
            await app.Work.WaitForStatusAsync(warm, "cancelled", TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(20));
        }

        var jobs = new List<(string Id, string Worker)>();
        for (var i = 0; i < 6; i++)
        {
            var id = (await app.Work.SubmitAsync("sleep", """{"sleep_ms":30000}""")).Id;
            var working = await app.Work.WaitForStatusAsync(id, "working", TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(20));
            jobs.Add((id, working.GetProperty("worker").GetString()!));
        }

        // Each API replica directly, in turn: those that listen on their own port (one that a test killed and the
        // orchestrator restarted may answer only behind the gateway).
        var ports = app.ApiReplicaPorts().Where(FreePorts.Listens).ToArray();
        Assert.NotEmpty(ports);
        var latencies = new List<double>();
        // The steady state: each API replica has its mesh connections to the workers open (a replica that a test
        // restarted opens them at its first request to each worker, which the first cancellation would otherwise pay).
        foreach (var port in ports)
        {
            using var http = AppFixture.UseKey(new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") }, app.AdminKey);
            foreach (var worker in jobs.Select(j => j.Worker).Distinct())
            {
                using var ping = await http.PostAsync("/api/v1/cluster/ping",
                    new StringContent($$"""{"node":"{{worker}}"}""", Encoding.UTF8, "application/json"));
                Assert.Equal(HttpStatusCode.OK, ping.StatusCode);
            }
        }
        try
        {
            await CancelEachAsync();
        }
        finally
        {
            // Whatever happened, no 30 s sleep is left to hold the next tests' workers.
            foreach (var (id, _) in jobs)
            {
                await app.Work.CancelAsync(id);
            }
        }

        output.WriteLine($"6 running 30 s sleeps on {jobs.Select(j => j.Worker).Distinct().Count()} workers, cancelled through " +
            $"{ports.Length} API replicas in turn; DELETE to GET cancelled: {string.Join(", ", latencies.Select(l => $"{l:F0}"))} ms");
        // How fast is for the benchmark to say, not a test (the figures are in the output above); what must hold is
        // that the workers stopped the handlers: a record ended by the grace's sweep alone would leave a 30 s sleep
        // holding its slot well past the 10 s below.
        Assert.True(jobs.Select(j => j.Worker).Distinct().Count() >= 2, "the jobs all ran on one worker");

        // Their slots are free: every worker reports nothing in flight at its next heartbeat.
        await Eventually.HoldsAsync(async () =>
        {
            var cluster = JsonDocument.Parse(await app.Gateway.GetStringAsync("/api/v1/cluster")).RootElement;
            return cluster.GetProperty("members").EnumerateArray().All(m => m.GetProperty("in_flight").GetInt32() == 0);
        }, "a worker still reports a job in flight: its handler did not stop when cancelled", TimeSpan.FromSeconds(10));

        async Task CancelEachAsync()
        {
            for (var i = 0; i < jobs.Count; i++)
            {
                using var http = AppFixture.UseKey(new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{ports[i % ports.Length]}") }, app.AdminKey);
                var client = new WorkClient(http);
                var clock = Stopwatch.StartNew();
                var (status, body) = await client.CancelAsync(jobs[i].Id);
                Assert.Equal(HttpStatusCode.Accepted, status);
                Assert.Equal("cancelling", body.GetProperty("status").GetString());
                Assert.Equal(jobs[i].Worker, body.GetProperty("worker").GetString());
                Assert.True(body.GetProperty("worker_notified").GetBoolean(), $"{jobs[i].Worker} was not told over the mesh: {body}");
                var cancelled = await client.WaitForStatusAsync(jobs[i].Id, "cancelled", TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(10));
                latencies.Add(clock.Elapsed.TotalMilliseconds);
                Assert.False(cancelled.TryGetProperty("result", out _), $"{cancelled}");
            }
        }
    }

    [Fact]
    public async Task Waiting_jobs_cancelled_through_the_api_or_the_dashboard_never_start_and_are_listed_as_cancelled()
    {
        string byApi, byDashboard;
        await app.ExecuteCommandAsync("cluster", ClusterMonitorExtensions.PauseCommand);
        try
        {
            byApi = (await app.Work.SubmitAsync("echo", "\"never\"")).Id;
            byDashboard = (await app.Work.SubmitAsync("echo", "\"never either\"")).Id;
            var (status, body) = await app.Work.CancelAsync(byApi);
            Assert.Equal(HttpStatusCode.Accepted, status);
            Assert.Equal("cancelled", body.GetProperty("status").GetString());

            var result = await app.App.ResourceCommands.ExecuteCommandAsync("cluster", ClusterMonitorExtensions.CancelJobCommand,
                new InteractionInputCollection([new InteractionInput
                {
                    Name = ClusterMonitorExtensions.CancelJobIdArgument, Label = "Job id", InputType = InputType.Text, Value = byDashboard,
                }]));
            Assert.True(result.Success, result.Message);
            output.WriteLine($"dashboard: {result.Message}");
        }
        finally
        {
            await app.ExecuteCommandAsync("cluster", ClusterMonitorExtensions.ResumeCommand);
        }

        // Work submitted after them is worked; they never start.
        var after = (await app.Work.SubmitAsync("echo", "1")).Id;
        await app.Work.WaitForStatusAsync(after, "worked");
        foreach (var id in new[] { byApi, byDashboard })
        {
            var job = (await app.Work.GetAsync(id))!.Value;
            Assert.Equal("cancelled", job.GetProperty("status").GetString());
            Assert.Equal(0, job.GetProperty("attempts").GetInt32());
            Assert.False(job.TryGetProperty("started_at", out _), $"{job}");
        }

        var listed = JsonDocument.Parse(await app.Gateway.GetStringAsync("/api/v1/work?status=cancelled&limit=500")).RootElement;
        var ids = listed.GetProperty("items").EnumerateArray().Select(j => j.GetProperty("id").GetString()).ToArray();
        Assert.Contains(byApi, ids);
        Assert.Contains(byDashboard, ids);

        // A finished job cannot be cancelled (409 problem); an unknown one is 404.
        var (again, problem) = await app.Work.CancelAsync(byApi);
        Assert.Equal(HttpStatusCode.Conflict, again);
        Assert.Contains("cancelled", problem.GetProperty("detail").GetString());
        var (worked, _) = await app.Work.CancelAsync(after);
        Assert.Equal(HttpStatusCode.Conflict, worked);
        Assert.Equal(HttpStatusCode.NotFound, (await app.Work.CancelAsync("AAAAAAAAAAAAAAAAAAAAAA")).Status);
    }

    [Fact]
    public async Task A_handler_that_ignores_its_token_is_fenced_after_the_grace_and_the_job_stays_cancelled()
    {
        var id = (await app.Work.SubmitAsync("sleep", """{"sleep_ms":3000,"ignore_cancellation":true}""")).Id;
        var working = await app.Work.WaitForStatusAsync(id, "working", TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(20));
        var started = working.GetProperty("started_at").GetDateTimeOffset();

        var clock = Stopwatch.StartNew();
        var (status, body) = await app.Work.CancelAsync(id);
        Assert.Equal(HttpStatusCode.Accepted, status);
        Assert.Equal("cancelling", body.GetProperty("status").GetString());
        var requested = (await app.Work.GetAsync(id))!.Value;
        Assert.Equal("working", requested.GetProperty("status").GetString());
        Assert.Equal(JsonValueKind.String, requested.GetProperty("cancel_requested_at").ValueKind);

        var cancelled = await app.Work.WaitForStatusAsync(id, "cancelled", TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(20));
        var fencedAfter = clock.Elapsed;
        var finished = cancelled.GetProperty("finished_at").GetDateTimeOffset();
        // The handler sleeps on and then reports its result: stale, the job stays cancelled without it.
        await Task.Delay(started.AddSeconds(3.5) - DateTimeOffset.UtcNow is { Ticks: > 0 } rest ? rest : TimeSpan.Zero);
        var after = (await app.Work.GetAsync(id))!.Value;

        output.WriteLine($"handler ignoring its token: cancelled {fencedAfter.TotalMilliseconds:F0} ms after DELETE " +
            $"(grace {ThreeWorkersAppFixture.CancelGraceMs} ms), {(finished - started).TotalMilliseconds:F0} ms into its 3 s sleep; " +
            $"after the sleep: {after}");
        Assert.True(fencedAfter.TotalMilliseconds >= ThreeWorkersAppFixture.CancelGraceMs - 100, $"fenced before the grace: {fencedAfter}");
        Assert.True(finished < started.AddSeconds(3), "the job ended only when its handler did");
        Assert.Equal("cancelled", after.GetProperty("status").GetString());
        Assert.False(after.TryGetProperty("result", out _), $"{after}");
        Assert.Equal(finished, after.GetProperty("finished_at").GetDateTimeOffset());
    }

    [Fact]
    public async Task An_every_second_schedule_over_ten_seconds_with_two_api_replicas_and_two_workers_makes_one_job_per_occurrence_though_an_api_replica_is_killed_midway()
    {
        // Two workers, as the app runs by default: the third one is stopped (the next test's restore starts it again).
        var workers = await app.WaitForHealthyReplicasAsync("worker", 3, Eventually.DefaultPatience);
        var third = app.GetProcess(workers[2]);
        ProcessTree.Signal(third, 15);
        await ProcessTree.WaitForExitAsync(third);
        var name = $"tick-{Guid.NewGuid():N}"[..13];
        var redis = await app.RedisAsync();
        var seen = new ConcurrentDictionary<string, (long Occurrence, string Runner, string Status)>();
        using var stopWatching = new CancellationTokenSource();
        // Every job the schedule makes, as it goes (its record, from Redis).
        var watching = Task.Run(async () =>
        {
            while (!stopWatching.IsCancellationRequested)
            {
                foreach (var entry in await redis.HashGetAllAsync(AppFixture.QueueKeys.Jobs))
                {
                    var record = JsonDocument.Parse((string)entry.Value!).RootElement;
                    if (record.TryGetProperty("schedule", out var schedule) && schedule.GetString() == name)
                    {
                        seen[(string)entry.Name!] = (record.GetProperty("occurrence").GetInt64(), record.GetProperty("accepted_by").GetString()!,
                            record.GetProperty("status").GetString()!);
                    }
                }
                await Task.Delay(150);
            }
        });

        DateTimeOffset putAt, deletedAt;
        try
        {
            using var put = await app.Gateway.PutAsync($"/api/v1/schedules/{name}", new StringContent(
                """{"cron":"* * * * * *","time_zone":"Europe/Paris","type":"echo","data":{"from":"a schedule"}}""", Encoding.UTF8, "application/json"));
            putAt = DateTimeOffset.UtcNow;
            var created = JsonDocument.Parse(await put.Content.ReadAsStringAsync()).RootElement;
            Assert.True(put.StatusCode == HttpStatusCode.Created, created.ToString());
            Assert.Equal($"/api/v1/schedules/{name}", put.Headers.Location?.OriginalString);
            var upcoming = created.GetProperty("next_occurrences").EnumerateArray().Select(e => e.GetDateTimeOffset()).ToArray();
            Assert.Equal(5, upcoming.Length);
            Assert.All(upcoming.Zip(upcoming.Skip(1)), pair => Assert.Equal(TimeSpan.FromSeconds(1), pair.Second - pair.First));

            await Task.Delay(TimeSpan.FromSeconds(5));
            var api = (await app.WaitForHealthyReplicasAsync("api", 2, Eventually.DefaultPatience))[0];
            var ports = app.ApiReplicaPorts();
            var victim = app.GetProcess(api);
            ProcessTree.Signal(victim, 9);
            await ProcessTree.WaitForExitAsync(victim);
            var survivorPort = ports.Single(FreePorts.Listens);
            output.WriteLine($"killed {api} at +{(DateTimeOffset.UtcNow - putAt).TotalSeconds:F1} s");
            await Task.Delay(putAt.AddSeconds(10) - DateTimeOffset.UtcNow);

            // Through the surviving replica (the gateway notices the dead one only at its next health check).
            using var survivor = AppFixture.UseKey(new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{survivorPort}") }, app.AdminKey);
            var status = JsonDocument.Parse(await survivor.GetStringAsync($"/api/v1/schedules/{name}")).RootElement;
            using var delete = await survivor.DeleteAsync($"/api/v1/schedules/{name}");
            deletedAt = DateTimeOffset.UtcNow;
            Assert.Equal(HttpStatusCode.NoContent, delete.StatusCode);
            output.WriteLine($"GET before DELETE: {status}");
            Assert.Equal("Europe/Paris", status.GetProperty("time_zone").GetString());
            Assert.True(status.GetProperty("fired").GetInt64() >= 9, status.ToString());

            // Jobs made just before the delete finish; then nothing more comes.
            await Task.Delay(TimeSpan.FromSeconds(1.5));
        }
        finally
        {
            await stopWatching.CancelAsync();
            await watching;
        }

        var jobs = seen.OrderBy(j => j.Value.Occurrence).ToArray();
        var occurrences = jobs.Select(j => j.Value.Occurrence).ToArray();
        var expected = (long)Math.Floor(deletedAt.ToUnixTimeMilliseconds() / 1000.0) - (long)Math.Floor(putAt.ToUnixTimeMilliseconds() / 1000.0);
        output.WriteLine($"{jobs.Length} jobs for {expected} occurrences between the PUT and the DELETE; made by " +
            string.Join(", ", jobs.GroupBy(j => j.Value.Runner).Select(g => $"{g.Key} ×{g.Count()}")));
        Assert.InRange(jobs.Length, expected - 1, expected + 1);
        Assert.Equal(occurrences.Distinct(), occurrences);
        Assert.All(occurrences.Zip(occurrences.Skip(1)), pair => Assert.Equal(1000, pair.Second - pair.First));
        Assert.All(jobs, j => Assert.Equal("worked", j.Value.Status));
    }
}
