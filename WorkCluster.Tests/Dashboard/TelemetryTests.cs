using Aspire.Hosting;
using WorkCluster.Tests.Infrastructure;
using Xunit.Abstractions;

namespace WorkCluster.Tests.Dashboard;

/// <summary>What the dashboard shows of a job's journey: one trace, and metrics that move with the work.</summary>
[Collection(ClusterCollection.Name)]
public sealed class TelemetryTests(ClusterAppFixture app, ITestOutputHelper output)
{
    [Fact]
    public async Task A_job_is_one_trace_from_the_post_through_the_queue_to_the_worker()
    {
        using var post = await app.Work.PostRawAsync("""{"type":"echo","data":"traced"}""");
        var accepted = JsonDocument.Parse(await post.Content.ReadAsStringAsync()).RootElement;
        var traceId = accepted.GetProperty("trace_id").GetString()!;
        var id = accepted.GetProperty("callback").GetString()!;

        var worked = await app.Work.WaitForStatusAsync(id, "worked");
        Assert.Equal(traceId, worked.GetProperty("trace_id").GetString());

        ReceivedSpan[] spans = [];
        await Eventually.HoldsAsync(() =>
        {
            spans = app.Telemetry.Spans.Where(s => s.TraceId == traceId).ToArray();
            // Redis spans come later: the Redis instrumentation exports the commands it profiled every few seconds.
            return Task.FromResult(spans.Any(s => s.Name.StartsWith("process ")) && spans.Any(s => s.Name.StartsWith("publish "))
                && spans.Any(s => IsRedis(s) && s.Service == "api") && spans.Any(s => IsRedis(s) && s.Service == "worker"));
        }, $"the spans of trace {traceId} never all arrived", TimeSpan.FromSeconds(30));
        output.WriteLine(string.Join(Environment.NewLine, spans.Select(s => $"{s.Service,-8} {s.Name} ({s.SpanId} ← {s.ParentSpanId})")));

        var publish = spans.Single(s => s.Name == "publish {wc}:queue");
        Assert.Equal("api", publish.Service);
        Assert.Equal(OtlpReceiver.SpanKindProducer, publish.Kind);
        Assert.Equal("redis", publish.Attributes["messaging.system"]);
        Assert.Equal("{wc}:queue", publish.Attributes["messaging.destination.name"]);
        Assert.Equal(id, publish.Attributes["messaging.message.id"]);

        var process = spans.Single(s => s.Name == "process {wc}:queue");
        Assert.Equal("worker", process.Service);
        Assert.Equal(OtlpReceiver.SpanKindConsumer, process.Kind);
        Assert.Equal(publish.SpanId, process.ParentSpanId);
        Assert.Equal(id, process.Attributes["messaging.message.id"]);

        // The request came in through the gateway, and Redis calls on both sides are traced.
        Assert.Contains(spans, s => s.Service == "gateway");
        Assert.Contains(spans, s => s.Service == "api" && IsRedis(s));
        Assert.Contains(spans, s => s.Service == "worker" && IsRedis(s));
    }

    private static bool IsRedis(ReceivedSpan span) =>
        span.Attributes.GetValueOrDefault("db.system") == "redis" || span.Attributes.GetValueOrDefault("db.system.name") == "redis";

    [Fact]
    public async Task The_metric_instruments_exist_and_move_when_work_flows()
    {
        const int jobs = 5;
        var before = Totals();

        var accepted = new List<string>();
        for (var i = 0; i < jobs; i++)
        {
            accepted.Add((await app.Work.SubmitAsync("echo", i.ToString())).Id);
        }
        // One job worked on its second attempt (one retry), one failing every attempt (retries, then the dead letter).
        var retriedOnce = await app.Work.SubmitAsync("flaky", """{"fail_times":1}""");
        var hopeless = await app.Work.SubmitAsync("flaky", """{"error":"always"}""");
        await app.Work.WaitForAllAsync(accepted, "worked");
        await app.Work.WaitForStatusAsync(retriedOnce.Id, "worked");
        await app.Work.WaitForStatusAsync(hopeless.Id, "failed");
        using var ping = await app.Gateway.PostAsync("/api/v1/cluster/ping", null);
        Assert.Equal(HttpStatusCode.OK, ping.StatusCode);

        var expected = new Dictionary<string, int>
        {
            ["workcluster.jobs.accepted"] = jobs + 2,
            ["workcluster.jobs.worked"] = jobs + 1,
            ["workcluster.jobs.queue_wait"] = jobs + 1 + 1 + ClusterAppFixture.MaxAttempts,
            ["workcluster.jobs.processing_time"] = jobs + 2 + ClusterAppFixture.MaxAttempts,
            ["workcluster.jobs.retried"] = 1 + ClusterAppFixture.MaxAttempts - 1,
            ["workcluster.jobs.failed"] = 1,
            ["workcluster.mesh.messages.sent"] = 1,
            ["workcluster.mesh.messages.received"] = 1,
        };
        await Eventually.HoldsAsync(() =>
        {
            var after = Totals();
            return Task.FromResult(expected.All(e => after.GetValueOrDefault(e.Key) >= before.GetValueOrDefault(e.Key) + e.Value));
        }, $"the instruments did not move with the work: before {Show(before)}; now {Show(Totals())}", TimeSpan.FromSeconds(30));
        var totals = Totals();
        output.WriteLine(string.Join(Environment.NewLine, totals.OrderBy(t => t.Key).Select(t => $"{t.Key} = {t.Value}")));
        Assert.Contains(app.Telemetry.Metrics, m => m.Name == "workcluster.jobs.accepted" && m.Service == "api"
            && m.Attributes.GetValueOrDefault("workcluster.work_type") == "echo");

        // The queue-depth gauge follows the queue: paused, it shows the jobs waiting; resumed, it falls back.
        try
        {
            await app.ExecuteCommandAsync("cluster", ClusterMonitorExtensions.PauseCommand);
            var waiting = new List<string>();
            for (var i = 0; i < 3; i++)
            {
                waiting.Add((await app.Work.SubmitAsync("echo", i.ToString())).Id);
            }
            await Eventually.HoldsAsync(() => Task.FromResult(LatestDepths().Any(d => d >= 3)),
                $"no worker's queue-depth gauge showed the 3 waiting jobs: {string.Join(", ", LatestDepths())}", TimeSpan.FromSeconds(30));
            await app.ExecuteCommandAsync("cluster", ClusterMonitorExtensions.ResumeCommand);
            await app.Work.WaitForAllAsync(waiting, "worked");
            await Eventually.HoldsAsync(() => Task.FromResult(LatestDepths().All(d => d == 0)),
                $"the queue-depth gauge did not fall back to 0: {string.Join(", ", LatestDepths())}", TimeSpan.FromSeconds(30));
        }
        finally
        {
            await app.ExecuteCommandAsync("cluster", ClusterMonitorExtensions.ResumeCommand);
        }
    }

    /// <summary>The latest value of the queue-depth gauge of each worker process.</summary>
    private double[] LatestDepths() =>
        app.Telemetry.Metrics
            .Where(m => m.Name == "workcluster.queue.depth" && m.Service == "worker")
            .GroupBy(m => m.Instance)
            .Select(g => g.Last().Value)
            .ToArray();

    private static string Show(Dictionary<string, double> totals) => string.Join(", ", totals.OrderBy(t => t.Key).Select(t => $"{t.Key}={t.Value}"));

    /// <summary>
    /// The latest cumulative value of each WorkCluster instrument, summed over every process and tag set (histograms:
    /// their count), and over every run of a process that was restarted (a count of its own, from its start time).
    /// </summary>
    private Dictionary<string, double> Totals() =>
        app.Telemetry.Metrics
            .Where(m => m.Name.StartsWith("workcluster.", StringComparison.Ordinal))
            .GroupBy(m => (m.Name, m.Service, m.Instance, m.StartTime, Tags: string.Join(",", m.Attributes.OrderBy(a => a.Key).Select(a => $"{a.Key}={a.Value}"))))
            .Select(g => (g.Key.Name, Value: g.Last().Value))
            .GroupBy(x => x.Name)
            .ToDictionary(g => g.Key, g => g.Sum(x => x.Value));
}
