using Aspire.Hosting;
using System.Diagnostics;
using System.Text;
using StackExchange.Redis;
using WorkCluster.Queue;
using WorkCluster.Redis;
using WorkCluster.Tests.Infrastructure;
using Xunit.Abstractions;

namespace WorkCluster.Tests.Resilience;

/// <summary>No accepted job is lost, whatever crashes: real processes killed for real.</summary>
[Collection(ThreeWorkersCollection.Name)]
public sealed class ResilienceTests(ThreeWorkersAppFixture app, ITestOutputHelper output) : IAsyncLifetime
{
    public Task InitializeAsync() => app.RestoreAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    private static readonly QueueKeys QueueKeys = AppFixture.QueueKeys;
    private static readonly TimeSpan Patience = Eventually.DefaultPatience;

    [Fact]
    public async Task Killing_one_of_three_workers_mid_run_loses_no_job()
    {
        var workers = await app.WaitForHealthyReplicasAsync("worker", 3, Patience);
        var victim = workers[0];
        var process = app.GetProcess(victim);
        var node = await app.NodeIdOfAsync(process.Id);

        var ids = await SubmitManyAsync(200, """{"sleep_ms":1000}""");
        await Eventually.HoldsAsync(async () => (await app.LeasedJobsOfAsync(node)).Length >= 8, "the victim never got jobs");

        ProcessTree.Signal(process, 9);
        var killed = Stopwatch.StartNew();
        Assert.True(await WaitForExitAsync(process, Patience), "the killed process did not exit");
        var orphans = (await app.LeasedJobsOfAsync(node)).ToHashSet();
        await Eventually.HoldsAsync(async () => (await app.LeasedJobsOfAsync(node)).Length == 0, "the dead worker's jobs were never taken back");
        var recoveredAfter = killed.Elapsed;

        var jobs = await WaitForAllWorkedAsync(ids);
        var ranTwice = jobs.Where(j => j.GetProperty("attempts").GetInt32() > 1).Select(j => j.GetProperty("id").GetString()!).ToArray();
        output.WriteLine($"kill -9 of {victim} ({node}) with {orphans.Count} jobs in flight: their leases were taken back " +
            $"{recoveredAfter.TotalSeconds:F1} s later (lease {ThreeWorkersAppFixture.LeaseTtl.TotalSeconds} s); " +
            $"all {jobs.Count} jobs worked; {ranTwice.Length} ran twice (started on the victim, finished elsewhere)");

        Assert.Equal(200, jobs.Count);
        Assert.NotEmpty(orphans);
        Assert.All(ranTwice, id => Assert.Contains(id, orphans));
        Assert.All(jobs.Where(j => orphans.Contains(j.GetProperty("id").GetString()!)),
            j => Assert.NotEqual(node, j.GetProperty("worker").GetString()));

        await app.ExecuteCommandAsync(victim, "start");
        await app.WaitForHealthyReplicasAsync("worker", 3, Patience);
    }

    [Fact]
    public async Task A_job_running_longer_than_three_leases_on_a_live_worker_is_never_run_twice()
    {
        var sleepMs = (int)(ThreeWorkersAppFixture.LeaseTtl.TotalMilliseconds * 3.5);
        var job = await app.Work.SubmitAsync("sleep", $$"""{"sleep_ms":{{sleepMs}}}""");

        var statuses = new List<string>();
        var workersSeen = new HashSet<string>();
        var leaseDeadlines = new HashSet<DateTimeOffset>();
        JsonElement current;
        var deadline = DateTime.UtcNow + Patience;
        do
        {
            Assert.True(DateTime.UtcNow < deadline, $"the job was not worked within {Patience}; it went through {string.Join(", ", statuses)}");
            current = (await app.Work.GetAsync(job.Id))!.Value;
            var status = current.GetProperty("status").GetString()!;
            if (statuses.Count == 0 || statuses[^1] != status)
            {
                statuses.Add(status);
            }
            if (current.TryGetProperty("worker", out var worker))
            {
                workersSeen.Add(worker.GetString()!);
            }
            if (current.TryGetProperty("lease_expires_at", out var lease))
            {
                leaseDeadlines.Add(lease.GetDateTimeOffset());
            }
            await Task.Delay(100);
        }
        while (current.GetProperty("status").GetString() != "worked");

        Assert.Equal(["pending", "working", "worked"], statuses.SkipWhile(s => s == "pending").Prepend("pending"));
        Assert.Single(workersSeen);
        Assert.True(leaseDeadlines.Count >= 3, $"GET showed {leaseDeadlines.Count} lease deadlines while it ran: renewed fewer than 3 times");
        Assert.False(current.TryGetProperty("lease_expires_at", out _), "a worked job still shows a lease");
        Assert.Equal(1, current.GetProperty("attempts").GetInt32());
        // Slept the whole time in one go (timers on Linux run on a coarse clock and may end a few ms early).
        var slept = current.GetProperty("result").GetProperty("slept_ms").GetInt64();
        Assert.True(slept >= sleepMs - 50, $"slept {slept} ms of {sleepMs}");
    }

    [Fact]
    public async Task A_worker_stopped_with_sigterm_hands_back_its_jobs_and_leaves_and_every_job_is_worked()
    {
        var workers = await app.WaitForHealthyReplicasAsync("worker", 3, Patience);
        var victim = workers[1];
        var process = app.GetProcess(victim);
        var node = await app.NodeIdOfAsync(process.Id);

        // Longer than the shutdown timeout: the victim cannot finish them, it has to hand them back.
        var ids = await SubmitManyAsync(60, """{"sleep_ms":4000}""");
        await Eventually.HoldsAsync(async () => (await app.LeasedJobsOfAsync(node)).Length >= 8, "the victim never got jobs");
        var inFlight = await app.LeasedJobsOfAsync(node);

        ProcessTree.Signal(process, 15);
        var stopping = Stopwatch.StartNew();
        Assert.True(await WaitForExitAsync(process, ThreeWorkersAppFixture.ShutdownTimeout + TimeSpan.FromSeconds(20)), "the worker did not stop");
        output.WriteLine($"the worker exited {stopping.Elapsed.TotalSeconds:F1} s after SIGTERM (shutdown timeout {ThreeWorkersAppFixture.ShutdownTimeout.TotalSeconds} s)");
        output.WriteLine($"its last lines:{Environment.NewLine}{await app.LogTailAsync(victim, 40)}");

        // Gone cleanly: no lease left, no liveness key, exit code 0.
        Assert.Empty(await app.LeasedJobsOfAsync(node));
        Assert.False(await (await app.RegistryAsync()).KeyExistsAsync($"{{wc}}:node:{node}"));
        int? exitCode = null;
        await Eventually.HoldsAsync(() => Task.FromResult(
            app.App.ResourceNotifications.TryGetCurrentState(victim, out var state) && (exitCode = state.Snapshot.ExitCode) is not null),
            "the stopped worker's exit code was never reported");
        Assert.True(exitCode == 0, $"the worker exited with {exitCode} after SIGTERM");

        var jobs = await WaitForAllWorkedAsync(ids);
        output.WriteLine($"SIGTERM to {victim} with {inFlight.Length} jobs in flight; all {jobs.Count} jobs worked");
        Assert.All(jobs, j => Assert.Equal(1, j.GetProperty("attempts").GetInt32())); // handing back counts no attempt
        Assert.All(jobs.Where(j => inFlight.Contains(j.GetProperty("id").GetString())),
            j => Assert.NotEqual(node, j.GetProperty("worker").GetString()));

        await app.ExecuteCommandAsync(victim, "start");
        await app.WaitForHealthyReplicasAsync("worker", 3, Patience);
    }

    [Fact]
    public async Task While_redis_is_down_the_api_answers_503_and_when_it_returns_every_accepted_job_is_worked()
    {
        await app.WaitForHealthyReplicasAsync("worker", 3, Patience);
        var processes = new[] { "api", "worker" }
            .SelectMany(name => app.WaitForHealthyReplicasAsync(name, name == "api" ? app.ApiReplicas : app.WorkerReplicas, Patience).Result)
            .Select(app.GetProcess).ToArray();
        var ids = await SubmitManyAsync(30, """{"sleep_ms":1000}""");
        using var api = AppFixture.UseKey(app.App.CreateHttpClient("api"), app.AdminKey);

        var redisServer = app.GetProcess("redis");
        ProcessTree.Signal(redisServer, 9);
        Assert.True(await WaitForExitAsync(redisServer, Patience), "the killed store did not exit");

        var answers = new List<(string Request, int Status, string? MediaType, bool RetryAfter, TimeSpan Took)>();
        var outage = Stopwatch.StartNew();
        while (outage.Elapsed < TimeSpan.FromSeconds(8))
        {
            foreach (var (name, send) in new (string, Func<Task<HttpResponseMessage>>)[]
            {
                ("POST", () => app.Work.PostRawAsync("""{"type":"echo","data":1}""")),
                ("GET", () => app.Gateway.GetAsync($"{WorkClient.WorkPath}/{ids[0]}")),
            })
            {
                var took = Stopwatch.StartNew();
                using var response = await send();
                answers.Add((name, (int)response.StatusCode, response.Content.Headers.ContentType?.MediaType,
                    response.Headers.RetryAfter is not null, took.Elapsed));
            }
            await Task.Delay(100);
        }
        using var health = await api.GetAsync("/health");
        output.WriteLine($"{answers.Count} requests through the gateway during an 8 s outage: statuses " +
            $"{string.Join(",", answers.Select(a => a.Status).Distinct())}, slowest answer {answers.Max(a => a.Took).TotalMilliseconds:F0} ms; " +
            $"an API replica's /health: {(int)health.StatusCode}");

        Assert.All(answers, a =>
        {
            Assert.True(a.Status == 503, $"{a.Request} answered {a.Status} during the outage");
            Assert.Equal("application/problem+json", a.MediaType);
            Assert.True(a.RetryAfter, $"{a.Request} 503 without Retry-After");
            Assert.True(a.Took < TimeSpan.FromSeconds(5), $"{a.Request} hung for {a.Took}");
        });
        Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode);
        await Eventually.HoldsAsync(() => Task.FromResult(ClusterState() == "Degraded"),
            $"the dashboard's cluster resource never showed Degraded during the outage; it shows {ClusterState()}: {ClusterProperties()}");
        // The registry lives apart: membership is readable and the mesh answers while the work store is down.
        var pingBody = "";
        await Eventually.HoldsAsync(async () =>
        {
            using var ping = await api.PostAsync("/api/v1/cluster/ping", null);
            pingBody = await ping.Content.ReadAsStringAsync();
            return ping.StatusCode == HttpStatusCode.OK && JsonDocument.Parse(pingBody).RootElement.GetProperty("peers").EnumerateArray()
                .Count(p => p.TryGetProperty("rtt_ms", out var rtt) && rtt.ValueKind == JsonValueKind.Number) == app.WorkerReplicas - 1;
        }, $"no mesh ping reached every peer while the work store was down; the last answer: {pingBody}", TimeSpan.FromSeconds(5));
        output.WriteLine($"mesh ping through an API replica during the work store's outage: {pingBody}");

        await app.StartAndWaitHealthyAsync("redis");

        var jobs = await WaitForAllWorkedAsync(ids);
        Assert.Equal(ids.Count, jobs.Count);
        // Every lease lapsed on Redis's clock during the outage; the sweep held back after it until the workers had
        // renewed them, so no job ran twice.
        Assert.All(jobs, j => Assert.Equal(1, j.GetProperty("attempts").GetInt32()));
        Assert.All(processes, p => Assert.False(p.HasExited, $"process {p.Id} died during the outage"));
        await Eventually.HoldsAsync(async () =>
        {
            using var response = await app.Work.PostRawAsync("""{"type":"echo","data":1}""");
            return response.StatusCode == HttpStatusCode.Accepted;
        }, "submissions never worked again after Redis came back");
        await Eventually.HoldsAsync(() => Task.FromResult(ClusterState() == "Running"),
            $"the cluster resource never showed Running after the outage; it shows {ClusterState()}: {ClusterProperties()}");
    }

    [SkippableFact]
    public async Task While_redis_is_busy_and_cannot_serve_the_api_answers_503_not_500()
    {
        TestStore.SkipOnGarnet("a script that keeps the store busy (BUSY replies; Garnet runs scripts on many threads and has none)");
        await app.WaitForHealthyReplicasAsync("api", app.ApiReplicas, Patience);
        var connectionString = await app.App.GetConnectionStringAsync("redis");
        await using var admin = await ConnectionMultiplexer.ConnectAsync(connectionString + ",allowAdmin=true,syncTimeout=10000,asyncTimeout=10000");
        var db = admin.GetDatabase();
        using var api = AppFixture.UseKey(app.App.CreateHttpClient("api"), app.AdminKey); // straight to a replica: the gateway's health checks stay out of it

        // A script that keeps Redis busy for 1.5 s: after the busy-reply threshold every other command is answered
        // with a BUSY error, as it is while Redis loads its data after a restart (LOADING).
        await using var observer = await ConnectionMultiplexer.ConnectAsync(connectionString + ",allowAdmin=true");
        var threshold = (string)(await db.ExecuteAsync("CONFIG", "GET", "busy-reply-threshold")).ToDictionary()["busy-reply-threshold"]!;
        await db.ExecuteAsync("CONFIG", "SET", "busy-reply-threshold", "100");
        try
        {
            var busy = db.ScriptEvaluateAsync("""
                local function now() local t = redis.call('TIME') return t[1] * 1000 + t[2] / 1000 end
                local started = now()
                while now() - started < tonumber(ARGV[1]) do end
                return 1
                """, values: [1500]);
            await Eventually.HoldsAsync(async () =>
            {
                try
                {
                    await observer.GetDatabase().PingAsync();
                    return false;
                }
                catch (RedisServerException e) when (e.Message.StartsWith("BUSY ", StringComparison.Ordinal))
                {
                    return true;
                }
            }, "Redis never answered BUSY", TimeSpan.FromSeconds(5));
            using var post = await api.PostAsync(WorkClient.WorkPath, new StringContent("""{"type":"echo","data":1}""", Encoding.UTF8, "application/json"));
            var body = await post.Content.ReadAsStringAsync();
            await busy;

            Assert.True(post.StatusCode == HttpStatusCode.ServiceUnavailable, $"answered {(int)post.StatusCode} while Redis was busy: {body}");
            Assert.Equal("application/problem+json", post.Content.Headers.ContentType?.MediaType);
            Assert.NotNull(post.Headers.RetryAfter);
            Assert.Contains("The work queue is unavailable", body);
        }
        finally
        {
            await db.ExecuteAsync("CONFIG", "SET", "busy-reply-threshold", threshold);
        }

        // The workers missed heartbeats meanwhile: the cluster is whole again before the next test.
        await Eventually.HoldsAsync(async () =>
            (await app.Gateway.GetFromJsonAsync<JsonElement>("/api/v1/cluster")).GetProperty("count").GetInt32() == app.WorkerReplicas,
            "the workers did not all come back to the membership");
        await Eventually.HoldsAsync(async () =>
        {
            using var response = await app.Work.PostRawAsync("""{"type":"echo","data":1}""");
            return response.StatusCode == HttpStatusCode.Accepted;
        }, "submissions never worked again after Redis was busy");
    }

    [Fact]
    public async Task A_worker_frozen_for_three_leases_loses_its_jobs_to_the_others_and_once_thawed_undoes_nothing()
    {
        var workers = await app.WaitForHealthyReplicasAsync("worker", 3, Patience);
        var victim = workers[2];
        var process = app.GetProcess(victim);
        var node = await app.NodeIdOfAsync(process.Id);
        var recoveredBefore = long.Parse(ClusterProperty("Leases recovered (total)") ?? "0");
        var ids = await SubmitManyAsync(60, """{"sleep_ms":1000}""");
        await Eventually.HoldsAsync(async () => (await app.LeasedJobsOfAsync(node)).Length >= 8, "the victim never got jobs");

        ProcessTree.Signal(process, 19); // SIGSTOP: alive, holding its jobs, doing nothing (a long GC pause, a VM stall)
        var frozenWith = await app.LeasedJobsOfAsync(node);
        var frozen = Stopwatch.StartNew();
        TimeSpan takenBack;
        try
        {
            await Eventually.HoldsAsync(async () => (await app.LeasedJobsOfAsync(node)).Length == 0,
                "the frozen worker's leases were never taken back");
            takenBack = frozen.Elapsed;
            if (3 * ThreeWorkersAppFixture.LeaseTtl - frozen.Elapsed is { Ticks: > 0 } rest)
            {
                await Task.Delay(rest);
            }
        }
        finally
        {
            ProcessTree.Signal(process, 18); // SIGCONT
        }

        var jobs = await WaitForAllWorkedAsync(ids);
        // Thawed, its handlers return and it tries to record their outcomes: every one is stale. Nothing may move.
        await Task.Delay(2 * ThreeWorkersAppFixture.LeaseTtl);
        var after = await Task.WhenAll(ids.Select(async id => (await app.Work.GetAsync(id))!.Value));
        var redis = await app.RedisAsync();
        var ranTwice = jobs.Where(j => j.GetProperty("attempts").GetInt32() > 1).Select(j => j.GetProperty("id").GetString()!).ToArray();
        output.WriteLine($"SIGSTOP of {node} with {frozenWith.Length} jobs in flight for {3 * ThreeWorkersAppFixture.LeaseTtl.TotalSeconds} s: " +
            $"its leases were taken back {takenBack.TotalSeconds:F1} s into the freeze (lease {ThreeWorkersAppFixture.LeaseTtl.TotalSeconds} s); " +
            $"all {jobs.Count} jobs worked, {ranTwice.Length} ran twice");

        Assert.NotEmpty(frozenWith);
        Assert.All(ranTwice, id => Assert.Contains(id, frozenWith));
        Assert.Equal(jobs.Select(Finished), after.Select(Finished)); // no job went back from worked, none was re-finished
        Assert.Equal(0, await redis.SortedSetLengthAsync(QueueKeys.Leases)); // none stuck
        Assert.False(process.HasExited, "the thawed worker died");
        await Eventually.HoldsAsync(() => Task.FromResult(long.Parse(ClusterProperty("Leases recovered (total)") ?? "0") >= recoveredBefore + frozenWith.Length),
            $"the dashboard's cluster resource did not count the {frozenWith.Length} leases taken back; it shows {ClusterProperties()}");
        await Eventually.HoldsAsync(async () => (await app.Gateway.GetFromJsonAsync<JsonElement>("/api/v1/cluster"))
            .GetProperty("members").EnumerateArray().Any(m => m.GetProperty("id").GetString() == node), "the thawed worker never rejoined");

        static string Finished(JsonElement job) =>
            $"{job.GetProperty("id")} {job.GetProperty("status")} {job.GetProperty("worker")} {job.GetProperty("finished_at")} {job.GetProperty("result")}";
    }

    [Fact]
    public async Task The_dashboard_shows_the_leases_held_while_jobs_run()
    {
        var jobs = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            jobs.Add((await app.Work.SubmitAsync("sleep", """{"sleep_ms":5000}""")).Id);
        }
        await Eventually.HoldsAsync(() => Task.FromResult(long.TryParse(ClusterProperty("Leases held"), out var held) && held >= 3),
            $"the cluster resource never showed 3 leases held while 3 jobs ran; it shows {ClusterProperties()}");
        await WaitForAllWorkedAsync(jobs);
        await Eventually.HoldsAsync(() => Task.FromResult(ClusterProperty("Leases held") == "0"),
            $"the cluster resource still showed leases once the jobs were worked; it shows {ClusterProperties()}");
        Assert.NotNull(ClusterProperty("Leases recovered (total)"));
    }

    [Fact]
    public async Task Killing_the_registry_store_stops_no_job_from_being_worked()
    {
        await app.WaitForHealthyReplicasAsync("worker", 3, Patience);
        var registry = app.GetProcess(app.RegistryResource);
        ProcessTree.Signal(registry, 9);
        Assert.True(await WaitForExitAsync(registry, Patience), "the killed registry store did not exit");
        try
        {
            var ids = await SubmitManyAsync(40, """{"sleep_ms":200}""");
            var jobs = await WaitForAllWorkedAsync(ids);

            using var api = AppFixture.UseKey(app.App.CreateHttpClient("api"), app.AdminKey);
            using var health = await api.GetAsync("/health");
            using var cluster = await app.Gateway.GetAsync("/api/v1/cluster");
            output.WriteLine($"registry store down: {jobs.Count} of {ids.Count} jobs worked; an API replica's /health: " +
                $"{(int)health.StatusCode} ({await health.Content.ReadAsStringAsync()}); GET /api/v1/cluster: {(int)cluster.StatusCode}");
            Assert.Equal(ids.Count, jobs.Count);
            Assert.Equal(HttpStatusCode.OK, health.StatusCode); // degraded, not taken out of the load balancer
            Assert.Equal(HttpStatusCode.ServiceUnavailable, cluster.StatusCode);
            Assert.Equal("application/problem+json", cluster.Content.Headers.ContentType?.MediaType);
        }
        finally
        {
            await app.StartAndWaitHealthyAsync(app.RegistryResource);
        }
        await Eventually.HoldsAsync(async () =>
            (await app.Gateway.GetFromJsonAsync<JsonElement>("/api/v1/cluster")).GetProperty("count").GetInt32() == app.WorkerReplicas,
            "the workers did not all come back to the membership");
    }

    [SkippableFact]
    public async Task At_its_memory_limit_the_queue_refuses_work_with_429_or_503_never_500_and_drains_when_resumed()
    {
        TestStore.SkipOnGarnet("maxmemory with noeviction (Garnet spills records to disk instead of refusing writes)");
        var workers = await app.WaitForHealthyReplicasAsync("worker", 3, Patience);
        var late = workers[0];
        var connectionString = await app.App.GetConnectionStringAsync("redis");
        await using var admin = await ConnectionMultiplexer.ConnectAsync(connectionString + ",allowAdmin=true");
        var db = admin.GetDatabase();
        var fillers = new List<RedisKey>();
        var accepted = new List<string>();
        var answers = new List<int>();
        var lateProcess = app.GetProcess(late);
        ProcessTree.Signal(lateProcess, 15);
        Assert.True(await WaitForExitAsync(lateProcess, Patience), "the stopped worker did not exit");
        await app.ExecuteCommandAsync("cluster", ClusterMonitorExtensions.PauseCommand);
        try
        {
            // 1 MiB jobs while paused: the queue's own budget (Work:MaxQueueBytes, 16 MiB, under Redis's 32 MB) runs out.
            var megabyte = $$"""{"type":"noop","data":"{{new string('x', 1_000_000)}}"}""";
            HttpResponseMessage refused;
            while (true)
            {
                var response = await app.Work.PostRawAsync(megabyte);
                answers.Add((int)response.StatusCode);
                if (response.StatusCode != HttpStatusCode.Accepted)
                {
                    refused = response;
                    break;
                }
                accepted.Add(JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("callback").GetString()!);
                response.Dispose();
                Assert.True(accepted.Count <= 32, "the queue took more than its byte budget");
            }
            using (refused)
            {
                Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
                Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
                Assert.NotNull(refused.Headers.RetryAfter);
                Assert.Contains("Work:MaxQueueBytes", await refused.Content.ReadAsStringAsync());
            }

            // Redis itself at its limit (something else filled it): 503 with Retry-After, never 500.
            await FillUntilOutOfMemoryAsync(db, fillers);
            using var full = await app.Work.PostRawAsync("""{"type":"echo","data":1}""");
            var fullBody = await full.Content.ReadAsStringAsync();
            answers.Add((int)full.StatusCode);
            Assert.True(full.StatusCode == HttpStatusCode.ServiceUnavailable, $"answered {(int)full.StatusCode} at maxmemory: {fullBody}");
            Assert.NotNull(full.Headers.RetryAfter);
            Assert.Contains("maxmemory", fullBody);

            // Still at the limit: resume, and a worker joins; the queue drains to nothing (each job worked frees its data).
            Assert.True(await IsOutOfMemoryAsync(db), "Redis was no longer at its limit when the queue resumed");
            await app.ExecuteCommandAsync("cluster", ClusterMonitorExtensions.ResumeCommand);
            await app.StartAndWaitHealthyAsync(late); // its process known (a pid) before it is looked up below
            var jobs = await WaitForAllWorkedAsync(accepted);
            var joined = await app.NodeIdOfAsync(app.GetProcess(late).Id);
            output.WriteLine($"at maxmemory {ThreeWorkersAppFixture.RedisMaxMemory}: answers {string.Join(",", answers.Distinct())}; " +
                $"{accepted.Count} 1 MiB jobs accepted before the 429; all {jobs.Count} worked after resume, with {joined} rejoined");
            Assert.Equal(0, await db.SortedSetLengthAsync(QueueKeys.Ready));
            Assert.Equal(0, await db.SortedSetLengthAsync(QueueKeys.Leases));
            Assert.DoesNotContain(500, answers);
        }
        finally
        {
            foreach (var filler in fillers)
            {
                await db.KeyDeleteAsync(filler);
            }
            await app.ExecuteCommandAsync("cluster", ClusterMonitorExtensions.ResumeCommand);
            await app.RestoreAsync();
        }
        await app.Work.SubmitAsync("echo", "1");
    }

    /// <summary>
    /// Fills Redis until it refuses a write for memory, then pushes it over its limit with one more write that may
    /// exceed it (as the drain's own writes may): it stays over, and refuses every ordinary write.
    /// </summary>
    private static async Task FillUntilOutOfMemoryAsync(IDatabase db, List<RedisKey> fillers)
    {
        var chunk = new string('f', 1024 * 1024);
        for (var i = 0; i < 128 && !await IsOutOfMemoryAsync(db); i++)
        {
            RedisKey key = $"test:filler:{Guid.NewGuid():N}";
            fillers.Add(key);
            try
            {
                await db.StringSetAsync(key, chunk);
            }
            catch (RedisServerException e) when (e.Message.StartsWith("OOM", StringComparison.Ordinal))
            {
                await db.ScriptEvaluateAsync("#!lua flags=allow-oom\nreturn redis.call('SET', KEYS[1], ARGV[1])", [key], [chunk]);
            }
        }
        Assert.True(await IsOutOfMemoryAsync(db), "Redis took 128 MB of filler without reaching its memory limit");
    }

    private static async Task<bool> IsOutOfMemoryAsync(IDatabase db)
    {
        try
        {
            await db.StringSetAsync("test:probe", "1");
            await db.KeyDeleteAsync("test:probe");
            return false;
        }
        catch (RedisServerException e) when (e.Message.StartsWith("OOM", StringComparison.Ordinal))
        {
            return true;
        }
    }

    private string? ClusterState() =>
        app.App.ResourceNotifications.TryGetCurrentState("cluster", out var e) ? e.Snapshot.State?.Text : null;

    private string? ClusterProperty(string name) =>
        app.App.ResourceNotifications.TryGetCurrentState("cluster", out var e)
            ? e.Snapshot.Properties.FirstOrDefault(p => p.Name == name)?.Value?.ToString()
            : null;

    private string ClusterProperties() =>
        app.App.ResourceNotifications.TryGetCurrentState("cluster", out var e)
            ? string.Join(", ", e.Snapshot.Properties.Select(p => $"{p.Name} = {p.Value}"))
            : "";

    private async Task<List<string>> SubmitManyAsync(int count, string data)
    {
        var ids = new List<string>();
        foreach (var batch in Enumerable.Range(0, count).Chunk(20))
        {
            var accepted = await Task.WhenAll(batch.Select(_ => app.Work.SubmitAsync("sleep", data)));
            ids.AddRange(accepted.Select(a => a.Id));
        }
        return ids;
    }

    private async Task<List<JsonElement>> WaitForAllWorkedAsync(IEnumerable<string> ids) =>
        [.. await app.Work.WaitForAllAsync(ids, "worked", Patience)];

    private static async Task<bool> WaitForExitAsync(Process process, TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cancel.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }
}
