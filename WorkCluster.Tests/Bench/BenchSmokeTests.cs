using WorkCluster.Tests.Infrastructure;
using Xunit.Abstractions;

namespace WorkCluster.Tests.Bench;

/// <summary>
/// The benchmark builds and runs every scenario, tiny (seconds), against a real redis-server of its own and the
/// running application. It measures nothing here: performance is measured by running the benchmark, never by
/// assertions on time.
/// </summary>
[Collection(ThreeWorkersCollection.Name)]
public sealed class BenchSmokeTests(ThreeWorkersAppFixture app, ITestOutputHelper output) : IAsyncLifetime
{
    public Task InitializeAsync() => app.RestoreAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task Every_scenario_runs_and_reports_its_figures_as_json()
    {
        var (exitCode, stdout, stderr) = await Repository.RunSeparatelyAsync("dotnet",
        [
            "run", "--project", Repository.PathOf("bench/WorkCluster.Bench"), "--no-build", "-c", Repository.Configuration, "--",
            "all", "--smoke", "--url", app.Gateway.BaseAddress!.ToString().TrimEnd('/'), "--store", TestStore.IsGarnet ? "garnet" : "redis",
        ], environment: new Dictionary<string, string> { ["WORKCLUSTER_API_KEY"] = app.ClientKey }, timeout: TimeSpan.FromMinutes(3));
        output.WriteLine(stdout);
        output.WriteLine(stderr);
        Assert.True(exitCode == 0, stdout + stderr);

        var report = JsonDocument.Parse(stdout.TrimEnd().Split('\n')[^1]).RootElement; // the JSON line is the last of stdout
        Assert.True(report.GetProperty("smoke").GetBoolean());

        var baseline = report.GetProperty("baseline");
        Assert.Equal(500, baseline.GetProperty("pairs").GetInt32());
        Assert.True(baseline.GetProperty("pairs_per_second").GetDouble() > 0);

        var queue = report.GetProperty("queue");
        Assert.Equal(500, queue.GetProperty("jobs").GetInt32());
        Assert.Equal(500, queue.GetProperty("submit_to_worked").GetProperty("samples").GetInt64()); // every job worked
        Assert.True(queue.GetProperty("round_trips_per_job").GetDouble() > 0);
        if (TestStore.IsGarnet)
        {
            Assert.False(queue.TryGetProperty("redis_bytes_per_worked_job", out _)); // Garnet reports no used_memory: left out, not made up
        }
        else
        {
            Assert.True(queue.GetProperty("redis_bytes_per_worked_job").GetDouble() > 0);
        }
        // CPU per job, of the store (INFO cpu; Garnet's process, read in 10 ms ticks: a smoke run may take less than
        // one) and of the benchmark's process.
        Assert.True(queue.GetProperty("redis_cpu_us_per_job").GetDouble() is var storeCpu && (TestStore.IsGarnet ? storeCpu >= 0 : storeCpu > 0));
        Assert.True(queue.GetProperty("client_cpu_us_per_job").GetDouble() > 0);
        // The open-loop run at half the rate: every one of its jobs worked and timed.
        var half = queue.GetProperty("half_rate");
        Assert.Equal(250, half.GetProperty("jobs").GetInt32());
        Assert.Equal(250, half.GetProperty("submit_to_worked").GetProperty("samples").GetInt64());
        Assert.Equal(TestStore.IsGarnet ? "garnet" : "redis", report.GetProperty("store").GetString());
        Assert.True(report.GetProperty("burn_down").GetProperty("drained_per_second").GetDouble() > 0);

        // The HTTP ceiling: a server process of the benchmark's own, one LPUSH per POST.
        var baselineHttp = report.GetProperty("http_baseline");
        Assert.True(baselineHttp.GetProperty("accepted").GetInt64() > 0);
        Assert.Equal(0, baselineHttp.GetProperty("errors").GetInt64());
        Assert.True(baselineHttp.GetProperty("client_cpu_us_per_job").GetDouble() > 0);

        var http = report.GetProperty("http");
        Assert.True(http.GetProperty("accepted").GetInt64() > 0);
        Assert.Equal(0, http.GetProperty("errors").GetInt64());
        Assert.Equal(0, http.GetProperty("half_rate_errors").GetInt64());
        Assert.Equal(0, http.GetProperty("not_worked").GetInt64());
        Assert.True(http.GetProperty("submit_to_worked_at_half_rate").GetProperty("samples").GetInt64() > 0);
        // The app's CPU per job, by process: the API's and the workers' were measured (they did the work).
        var byProcess = http.GetProperty("client_cpu_us_per_job_by_process");
        Assert.True(byProcess.GetProperty("api").GetDouble() > 0);
        Assert.True(byProcess.GetProperty("worker").GetDouble() > 0);
    }
}
