using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using WorkCluster.Tests.Infrastructure;
using Xunit.Abstractions;

namespace WorkCluster.Tests.Polyglot;

/// <summary>
/// Workers in other languages: the HTTP lease protocol, and the Python worker (workers/python/worker.py) that the
/// AppHost runs beside the .NET worker, for real.
/// </summary>
[Collection(PolyglotCollection.Name)]
public sealed class PolyglotTests(PolyglotAppFixture app, ITestOutputHelper output)
{
    private const string Python = "python-worker";

    /// <summary>The Python worker joins the cluster as python-&lt;host&gt;-&lt;pid&gt;.</summary>
    private const string PythonNodePrefix = "python-";
    private const string LeasesPath = "/api/v1/leases";

    [SkippableFact]
    public async Task Wordcount_jobs_through_the_gateway_are_worked_by_the_python_worker_while_dotnet_jobs_keep_flowing()
    {
        Tools.Need("python3", "sudo apt-get install -y python3");
        var python = await WaitForPythonWorkerAsync();
        Assert.Equal("python", python.GetProperty("language").GetString());
        Assert.Equal("http", python.GetProperty("protocol").GetString());
        Assert.False(python.GetProperty("mesh").GetBoolean());
        Assert.Equal(["py.sleep", "py.wordcount"], python.GetProperty("work_types").EnumerateArray().Select(t => t.GetString()!).Order().ToArray());
        // On the dashboard: a child of the cluster resource, as the .NET workers are.
        var node = python.GetProperty("id").GetString()!;
        await Eventually.HoldsAsync(() => Task.FromResult(app.App.ResourceNotifications.TryGetCurrentState(node, out var e)
            && !e.Snapshot.IsHidden && e.Snapshot.ResourceType == "HTTP worker (python)"
            && e.Snapshot.Properties.Any(p => p.Name == "resource.parentName" && p.Value?.ToString() == "cluster")),
            "the Python worker was not shown under the dashboard's cluster resource", TimeSpan.FromSeconds(30));

        var clock = Stopwatch.StartNew();
        var texts = Enumerable.Range(0, 20).Select(i => $"the cat and the hat number {i} and the bat").ToArray();
        var words = new List<string>();
        var echoes = new List<string>();
        foreach (var text in texts)
        {
            words.Add((await app.Work.SubmitAsync("py.wordcount", JsonSerializer.Serialize(text))).Id);
            echoes.Add((await app.Work.SubmitAsync("echo", JsonSerializer.Serialize(text))).Id);
        }
        var worked = await app.Work.WaitForAllAsync(words, "worked", TimeSpan.FromSeconds(60));
        var echoed = await app.Work.WaitForAllAsync(echoes, "worked", TimeSpan.FromSeconds(60));
        output.WriteLine($"{words.Count} py.wordcount and {echoes.Count} echo jobs worked in {clock.Elapsed.TotalSeconds:F1} s; " +
            $"a result: {worked[0].GetProperty("result")}");

        Assert.All(worked, job =>
        {
            Assert.StartsWith(PythonNodePrefix, job.GetProperty("worker").GetString());
            var result = job.GetProperty("result");
            Assert.Equal(10, result.GetProperty("words").GetInt32());
            Assert.Equal(["the", "3"], result.GetProperty("top")[0].EnumerateArray().Select(e => e.ToString()).ToArray());
        });
        Assert.All(echoed, job => Assert.StartsWith("worker-", job.GetProperty("worker").GetString()));
    }

    [SkippableFact]
    public async Task Killing_the_python_worker_mid_job_lets_its_lease_lapse_and_a_restarted_worker_works_the_job_again()
    {
        Tools.Need("python3", "sudo apt-get install -y python3");
        await WaitForPythonWorkerAsync();
        var id = (await app.Work.SubmitAsync("py.sleep", """{"sleep_ms":4000}""")).Id;
        var working = await app.Work.WaitForStatusAsync(id, "working", TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(20));
        var first = working.GetProperty("worker").GetString()!;
        Assert.StartsWith(PythonNodePrefix, first);

        var (resource, process) = await PythonProcessAsync();
        ProcessTree.Signal(process, 9);
        await ProcessTree.WaitForExitAsync(process);
        var killed = Stopwatch.StartNew();
        await app.StartAndWaitHealthyAsync(resource);

        var worked = await app.Work.WaitForStatusAsync(id, "worked", TimeSpan.FromSeconds(60), TimeSpan.FromMilliseconds(100));
        output.WriteLine($"kill -9 of the Python worker mid-job (lease {PolyglotAppFixture.LeaseTtl.TotalSeconds} s): the job was worked again " +
            $"{killed.Elapsed.TotalSeconds:F1} s later, attempt {worked.GetProperty("attempts")}: {worked.GetProperty("result")}");
        Assert.Equal(2, worked.GetProperty("attempts").GetInt32());
        Assert.StartsWith(PythonNodePrefix, worked.GetProperty("worker").GetString());
        Assert.NotEqual(first, worked.GetProperty("worker").GetString()); // the restarted process, not the killed one
        Assert.Equal(4000, worked.GetProperty("result").GetProperty("slept_ms").GetInt32());
        await WaitForPythonWorkerAsync();
    }

    [SkippableFact]
    public async Task A_python_worker_stopped_with_sigterm_hands_its_unfinished_job_back_and_exits_cleanly()
    {
        Tools.Need("python3", "sudo apt-get install -y python3");
        await WaitForPythonWorkerAsync();
        var id = (await app.Work.SubmitAsync("py.sleep", """{"sleep_ms":30000}""")).Id;
        var working = await app.Work.WaitForStatusAsync(id, "working", TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(20));
        var first = working.GetProperty("worker").GetString()!;

        var (resource, process) = await PythonProcessAsync();
        ProcessTree.Signal(process, 15);
        var stopping = Stopwatch.StartNew();
        try
        {
            // It leases no more, gives the job its shutdown time (10 s), then stops the handler and releases the job.
            await ProcessTree.WaitForExitAsync(process, TimeSpan.FromSeconds(30));
            var handedBack = (await app.Work.GetAsync(id))!.Value;
            int? exitCode = null;
            await Eventually.HoldsAsync(() => Task.FromResult(app.App.ResourceNotifications.TryGetCurrentState(resource, out var state)
                && (exitCode = state.Snapshot.ExitCode) is not null), "the stopped Python worker's exit code was never reported");
            output.WriteLine($"SIGTERM to the Python worker mid-job: it exited {stopping.Elapsed.TotalSeconds:F1} s later with {exitCode}; " +
                $"the job is {handedBack.GetProperty("status")}; its last lines:{Environment.NewLine}{await app.LogTailAsync(resource, 10)}");
            Assert.Equal(0, exitCode);
            Assert.Equal("pending", handedBack.GetProperty("status").GetString());
            Assert.Equal(0, handedBack.GetProperty("attempts").GetInt32()); // handing back counts no attempt
        }
        finally
        {
            await app.StartAndWaitHealthyAsync(resource);
        }
        var again = await app.Work.WaitForStatusAsync(id, "working", TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(50));
        Assert.NotEqual(first, again.GetProperty("worker").GetString());
        Assert.Equal(1, again.GetProperty("attempts").GetInt32());
        using var admin = app.CreateGatewayClient(app.AdminKey);
        using var cancel = await admin.DeleteAsync($"{WorkClient.WorkPath}/{id}"); // no 30 s sleep left for the next test
        Assert.Equal(HttpStatusCode.Accepted, cancel.StatusCode);
        await app.Work.WaitForStatusAsync(id, "cancelled", TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task The_lease_protocol_fences_a_stale_token_and_needs_the_worker_scope()
    {
        var key = await app.GetParameterAsync("worker-api-key");
        using var worker = app.CreateGatewayClient(key);
        var type = $"test.fence.{Guid.NewGuid():N}"[..20];
        var body = $$$"""{"types":["{{{type}}}"],"max":1,"wait":0,"worker":{"id":"test-fence","language":"bash"}}""";

        // No live worker serves the type yet: it is unknown. A lease call registers the worker and its types.
        using (var unknown = await app.Work.PostRawAsync($$"""{"type":"{{type}}","data":"x"}"""))
        {
            Assert.Equal(HttpStatusCode.BadRequest, unknown.StatusCode);
        }
        using (var nothing = await PostAsync(worker, LeasesPath, body))
        {
            Assert.Equal(HttpStatusCode.NoContent, nothing.StatusCode);
        }
        JsonElement member = default;
        await Eventually.HoldsAsync(async () =>
        {
            var members = (await app.Gateway.GetFromJsonAsync<JsonElement>("/api/v1/cluster")).GetProperty("members").EnumerateArray();
            member = members.FirstOrDefault(m => m.GetProperty("id").GetString() == "test-fence");
            return member.ValueKind == JsonValueKind.Object;
        }, "the HTTP worker was not listed as a member");
        Assert.Equal("bash", member.GetProperty("language").GetString());

        string id = "";
        await Eventually.HoldsAsync(async () =>
        {
            using var accepted = await app.Work.PostRawAsync($$$"""{"type":"{{{type}}}","data":{"n":1}}""");
            if (accepted.StatusCode != HttpStatusCode.Accepted)
            {
                return false; // the replica's view of the HTTP workers' types is at most a second old
            }
            id = JsonDocument.Parse(await accepted.Content.ReadAsStringAsync()).RootElement.GetProperty("callback").GetString()!;
            return true;
        }, "a type served by a live HTTP worker was not accepted", TimeSpan.FromSeconds(10));

        // Leased: the job, its data and a token. A .NET worker never claims it.
        using var leased = await PostAsync(worker, LeasesPath, body.Replace("\"wait\":0", "\"wait\":5"));
        Assert.Equal(HttpStatusCode.OK, leased.StatusCode);
        var job = JsonDocument.Parse(await leased.Content.ReadAsStringAsync()).RootElement.GetProperty("jobs")[0];
        Assert.Equal(id, job.GetProperty("id").GetString());
        Assert.Equal(1, job.GetProperty("data").GetProperty("n").GetInt32());
        Assert.Equal(1, job.GetProperty("attempt").GetInt32());
        var token = job.GetProperty("lease_token").GetString()!;
        Assert.Equal("test-fence", (await app.Work.GetAsync(id))!.Value.GetProperty("worker").GetString());

        using (var renewed = await PostAsync(worker, $"{LeasesPath}/{token}/renew", "{}"))
        {
            Assert.Equal(HttpStatusCode.OK, renewed.StatusCode);
            Assert.False(JsonDocument.Parse(await renewed.Content.ReadAsStringAsync()).RootElement.GetProperty("cancel_requested").GetBoolean());
        }
        using (var progress = await PostAsync(worker, $"{LeasesPath}/{token}/progress", """{"percent":50,"message":"half"}"""))
        {
            Assert.Equal(HttpStatusCode.NoContent, progress.StatusCode);
        }
        using (var completed = await PostAsync(worker, $"{LeasesPath}/{token}/complete", """{"result":{"ok":true}}"""))
        {
            Assert.Equal(HttpStatusCode.OK, completed.StatusCode);
            Assert.Equal("worked", JsonDocument.Parse(await completed.Content.ReadAsStringAsync()).RootElement.GetProperty("status").GetString());
        }
        var done = (await app.Work.GetAsync(id))!.Value;
        Assert.True(done.GetProperty("result").GetProperty("ok").GetBoolean());

        // The token is stale now: every use is refused with 409 and changes nothing.
        foreach (var (path, request) in new[] { ("renew", "{}"), ("complete", """{"result":2}"""), ("fail", """{"error":"late"}"""),
                     ("release", "{}"), ("progress", """{"percent":1}""") })
        {
            using var stale = await PostAsync(worker, $"{LeasesPath}/{token}/{path}", request);
            var problem = await stale.Content.ReadAsStringAsync();
            Assert.True(stale.StatusCode == HttpStatusCode.Conflict, $"{path} with a stale token answered {(int)stale.StatusCode}: {problem}");
            Assert.Equal("application/problem+json", stale.Content.Headers.ContentType?.MediaType);
            Assert.Equal("Lease lost", JsonDocument.Parse(problem).RootElement.GetProperty("title").GetString());
        }
        using (var forged = await PostAsync(worker, $"{LeasesPath}/{id}.1-00000000.test-fence/complete", """{"result":3}"""))
        {
            Assert.Equal(HttpStatusCode.Conflict, forged.StatusCode);
        }
        var after = (await app.Work.GetAsync(id))!.Value;
        Assert.Equal(done.GetProperty("finished_at").GetString(), after.GetProperty("finished_at").GetString());
        Assert.True(after.GetProperty("result").GetProperty("ok").GetBoolean());

        // A key without the worker scope may not lease.
        using var client = app.CreateGatewayClient(app.ClientKey);
        using var refused = await PostAsync(client, LeasesPath, body);
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
        using var anonymous = app.CreateGatewayClient(null);
        using var unauthorized = await PostAsync(anonymous, LeasesPath, body);
        Assert.Equal(HttpStatusCode.Unauthorized, unauthorized.StatusCode);
    }

    [Fact]
    public async Task A_bad_lease_request_gets_a_problem_and_the_protocol_is_in_the_openapi_document()
    {
        var key = await app.GetParameterAsync("worker-api-key");
        using var worker = app.CreateGatewayClient(key);
        foreach (var (body, title) in new[]
                 {
                     ("""{"max":1,"worker":{"id":"w"}}""", "Missing 'types'"),
                     ("""{"types":["echo"],"worker":{"id":"w"}}""", "A .NET work type"),
                     ("""{"types":["x"],"max":0,"worker":{"id":"w"}}""", "Invalid 'max'"),
                     ("""{"types":["x"],"max":"8","worker":{"id":"w"}}""", "Invalid 'max'"),
                     ("""{"types":["x"],"wait":"20","worker":{"id":"w"}}""", "Invalid 'wait'"),
                     ("""{"types":["x"],"wait":-1,"worker":{"id":"w"}}""", "Invalid 'wait'"),
                     ("""{"types":["x"],"worker":{"id":"a b"}}""", "Missing 'worker'"),
                     ("""{"types":["x"]}""", "Missing 'worker'"),
                 })
        {
            using var response = await PostAsync(worker, LeasesPath, body);
            var problem = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{body} answered {(int)response.StatusCode}: {problem}");
            Assert.Equal(title, JsonDocument.Parse(problem).RootElement.GetProperty("title").GetString());
        }
        // What a worker says of itself beyond its id is shown if it makes sense and ignored if not.
        using (var odd = await PostAsync(worker, LeasesPath, """{"types":["x"],"worker":{"id":"w","pid":"1","in_flight":[],"language":7}}"""))
        {
            Assert.Equal(HttpStatusCode.NoContent, odd.StatusCode);
        }
        // A mesh member's id may not be taken by an HTTP worker.
        var dotnet = (await app.Gateway.GetFromJsonAsync<JsonElement>("/api/v1/cluster")).GetProperty("members").EnumerateArray()
            .First(m => m.GetProperty("mesh").GetBoolean()).GetProperty("id").GetString();
        using (var taken = await PostAsync(worker, LeasesPath, $$$"""{"types":["x"],"worker":{"id":"{{{dotnet}}}"}}"""))
        {
            Assert.Equal(HttpStatusCode.Conflict, taken.StatusCode);
        }

        using var api = AppFixture.UseKey(app.App.CreateHttpClient("api"), app.AdminKey);
        var document = await api.GetStringAsync("/openapi/v1.json");
        foreach (var path in new[] { "/api/v1/leases", "/api/v1/leases/{token}/renew", "/api/v1/leases/{token}/progress",
                     "/api/v1/leases/{token}/complete", "/api/v1/leases/{token}/fail", "/api/v1/leases/{token}/release" })
        {
            Assert.Contains($"\"{path}\"", document);
        }
    }

    /// <summary>The Python worker's resource (its orchestrator id, for commands) and its process.</summary>
    private async Task<(string Resource, Process Process)> PythonProcessAsync()
    {
        var resource = (await app.WaitForHealthyReplicasAsync(Python, 1, Eventually.DefaultPatience)).Single();
        return (resource, app.GetProcess(resource));
    }

    private static Task<HttpResponseMessage> PostAsync(HttpClient http, string path, string body) =>
        http.PostAsync(path, new StringContent(body, Encoding.UTF8, new MediaTypeHeaderValue("application/json")));

    private async Task<JsonElement> WaitForPythonWorkerAsync()
    {
        JsonElement python = default;
        await Eventually.HoldsAsync(async () =>
        {
            var members = (await app.Gateway.GetFromJsonAsync<JsonElement>("/api/v1/cluster")).GetProperty("members").EnumerateArray();
            python = members.FirstOrDefault(m => m.TryGetProperty("language", out var language) && language.GetString() == "python");
            return python.ValueKind == JsonValueKind.Object;
        }, "the Python worker never registered in the cluster");
        return python;
    }
}
