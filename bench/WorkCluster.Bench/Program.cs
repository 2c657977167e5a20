using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Serialization;
using Spectre.Console;
using WorkCluster.Bench;

if (args is [HttpBaselineScenario.ServeArgument, var redisConnection, var port, var key])
{
    await HttpBaselineScenario.ServeAsync(redisConnection, int.Parse(port, CultureInfo.InvariantCulture), key);
    return 0;
}

BenchOptions options;
try
{
    options = BenchOptions.Parse(args);
}
catch (Exception e) when (e is ArgumentException or FormatException)
{
    Console.Error.WriteLine(e.Message);
    Console.Error.WriteLine(BenchOptions.Usage);
    return 2;
}

var run = new BenchRun(
    options.Scenario, options.Smoke, Environment.ProcessorCount, RuntimeInformation.FrameworkDescription,
    RuntimeInformation.OSDescription, DateTimeOffset.UtcNow);

await using (var redis = await RedisServerProcess.StartOrUseAsync(options.Redis, options.Store, options.Durability))
{
    run.Store = redis.Store ?? "given";
    run.Durability = options.Durability.ToString().ToLowerInvariant();
    await AnsiConsole.Progress()
        .AutoClear(false)
        .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
        .StartAsync(async progress =>
        {
            if (options.Scenario is "baseline" or "all")
            {
                run.Baseline = await BaselineScenario.RunAsync(options, redis, progress);
            }
            if (options.Scenario is "queue" or "all")
            {
                run.Queue = await QueueScenario.RunAsync(options, redis, progress);
                run.BurnDown = await QueueScenario.RunBurnDownAsync(options, redis, progress);
            }
            if (options.Scenario is "http-baseline" or "http" or "all")
            {
                // The ceiling of the HTTP path, in the same run as the app's http figures.
                run.HttpBaseline = await HttpBaselineScenario.RunAsync(options, redis, progress);
            }
            if (options.Scenario is "http" || (options.Scenario is "all" && options.Url is not null))
            {
                run.Http = await HttpScenario.RunAsync(options, redis, progress);
            }
        });
}

Report.Print(run);
// Last: every figure, on one line, for machines.
Console.WriteLine(JsonSerializer.Serialize(run, BenchRun.Json));
return 0;

namespace WorkCluster.Bench
{
    public sealed class BenchRun(string scenario, bool smoke, int cores, string runtime, string os, DateTimeOffset at)
    {
        public static readonly JsonSerializerOptions Json = new()
        {
            PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
            DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
            NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        };

        public string Scenario { get; } = scenario;
        public bool Smoke { get; } = smoke;

        /// <summary>The store the run used: redis (redis-server) or garnet when the benchmark started it; given (--redis) otherwise.</summary>
        public string? Store { get; set; }

        /// <summary>The durability of the store and the queues (<c>--durability</c>): acknowledged or fast.</summary>
        public string? Durability { get; set; }
        public int Cores { get; } = cores;
        public string Runtime { get; } = runtime;
        public string Os { get; } = os;
        public DateTimeOffset At { get; } = at;
        public BaselineResult? Baseline { get; set; }
        public QueueResult? Queue { get; set; }
        public BurnDownResult? BurnDown { get; set; }
        public HttpBaselineResult? HttpBaseline { get; set; }
        public HttpResult? Http { get; set; }

        /// <summary>The app's accepted rate as a share of the HTTP baseline's, when both ran.</summary>
        public double? HttpVsBaseline => HttpBaseline is { } b && Http is { } h && b.AcceptedPerSecond > 0 ? Math.Round(h.AcceptedPerSecond / b.AcceptedPerSecond, 3) : null;

        /// <summary>The queue's completion rate as a share of the raw Redis pairs per second, when both ran.</summary>
        public double? QueueVsBaseline => Baseline is { } b && Queue is { } q ? Math.Round(q.CompletedPerSecond / b.PairsPerSecond, 3) : null;
    }

    internal static class Report
    {
        public static void Print(BenchRun run)
        {
            var table = new Table().Title($"WorkCluster benchmark — {run.Cores} cores, {run.Runtime}, store {run.Store}, durability {run.Durability}{(run.Smoke ? " (smoke: measures nothing)" : "")}")
                .AddColumn("scenario").AddColumn("figure").AddColumn(new TableColumn("value").RightAligned());
            void Row(string scenario, string figure, string value) => table.AddRow(scenario, figure, value);
            static string N(double value) => value.ToString("N1", CultureInfo.InvariantCulture);
            static string Us(double? value) => value is { } v ? v.ToString("N1", CultureInfo.InvariantCulture) : "n/a";
            void CpuRow(string scenario, double? redisUs, double clientUs, string client) =>
                Row(scenario, $"CPU µs per job: Redis / {client}", $"{Us(redisUs)} / {Us(clientUs)}");

            if (run.Baseline is { } b)
            {
                Row("baseline", $"LPUSH+BRPOP pairs/s ({b.Producers} producers, {b.Consumers} consumers)", N(b.PairsPerSecond));
                Row("baseline", "push → pop p50 / p99 (ms)", $"{b.PushToPop.P50Ms} / {b.PushToPop.P99Ms}");
                CpuRow("baseline", b.RedisCpuUsPerJob, b.ClientCpuUsPerJob, "benchmark process");
            }
            if (run.Queue is { } q)
            {
                Row("queue", $"enqueued/s ({q.Producers} producers)", N(q.EnqueuedPerSecond));
                Row("queue", $"worked/s ({q.Workers} worker × concurrency {q.Concurrency}, {q.Jobs} jobs)", N(q.CompletedPerSecond));
                if (run.QueueVsBaseline is { } ratio)
                {
                    Row("queue", "worked/s ÷ baseline pairs/s", ratio.ToString("0.00", CultureInfo.InvariantCulture));
                }
                Row("queue", "submit → worked p50 / p99 (ms; a backlog when producers outrun the worker)", $"{q.SubmitToWorked.P50Ms} / {q.SubmitToWorked.P99Ms}");
                Row("queue", "Redis round trips per job (counted)", q.RoundTripsPerJob.ToString("0.000", CultureInfo.InvariantCulture));
                Row("queue", "Redis bytes per worked job (held until its TTL)",
                    q.RedisBytesPerWorkedJob is { } bytes ? N(bytes) : "n/a (the store reports no used_memory)");
                CpuRow("queue", q.RedisCpuUsPerJob, q.ClientCpuUsPerJob, "producers + worker");
                if (q.HalfRate is { } half)
                {
                    Row("queue", $"half rate, open loop: asked / achieved (/s, {half.Jobs} jobs)", $"{N(half.TargetPerSecond)} / {N(half.AchievedPerSecond)}");
                    Row("queue", "half rate: submit → worked p50 / p99 (ms)", $"{half.SubmitToWorked.P50Ms} / {half.SubmitToWorked.P99Ms}");
                }
            }
            if (run.BurnDown is { } d)
            {
                Row("burn-down", "pre-filled/s", N(d.PrefilledPerSecond));
                Row("burn-down", "drained/s", N(d.DrainedPerSecond));
                CpuRow("burn-down", d.RedisCpuUsPerJob, d.ClientCpuUsPerJob, "producers + worker");
            }
            if (run.HttpBaseline is { } hb)
            {
                Row("http-baseline", $"accepted/s at max ({hb.Clients} clients; Kestrel + one LPUSH)", N(hb.AcceptedPerSecond));
                Row("http-baseline", "POST response p50 / p99 (ms)", $"{hb.PostResponse.P50Ms} / {hb.PostResponse.P99Ms}");
                Row("http-baseline", "errors at max", hb.Errors.ToString(CultureInfo.InvariantCulture));
                CpuRow("http-baseline", hb.RedisCpuUsPerJob, hb.ClientCpuUsPerJob, "server process");
            }
            if (run.Http is { } h)
            {
                Row("http", $"accepted/s at max ({h.Clients} clients)", N(h.AcceptedPerSecond));
                Row("http", "POST response p50 / p99 (ms)", $"{h.PostResponse.P50Ms} / {h.PostResponse.P99Ms}");
                Row("http", "worked/s at max", N(h.WorkedPerSecond));
                Row("http", "errors at max", h.Errors.ToString(CultureInfo.InvariantCulture));
                if (run.HttpVsBaseline is { } httpRatio)
                {
                    Row("http", "accepted/s ÷ http-baseline accepted/s", httpRatio.ToString("0.00", CultureInfo.InvariantCulture));
                }
                CpuRow("http", h.RedisCpuUsPerJob, h.ClientCpuUsPerJob, "API + worker + gateway");
                Row("http", "CPU µs per job: API / worker / gateway processes",
                    string.Join(" / ", new[] { "api", "worker", "gateway" }.Select(k => Us(h.ClientCpuUsPerJobByProcess.GetValueOrDefault(k)))));
                Row("http", $"half rate: asked / achieved (/s)", $"{N(h.HalfRateTarget)} / {N(h.HalfRateAchieved)}");
                Row("http", $"half rate: submit → worked p50 / p99 (ms, {h.SubmitToWorkedAtHalfRate.Samples} sampled)", $"{h.SubmitToWorkedAtHalfRate.P50Ms} / {h.SubmitToWorkedAtHalfRate.P99Ms}");
                Row("http", "half rate: errors / not worked", $"{h.HalfRateErrors} / {h.NotWorked}");
                foreach (var p in h.Memory)
                {
                    Row("http", $"RSS {p.Process} pid {p.Pid}: idle → warm → last (max) MB", $"{p.FirstMb} → {p.WarmMb} → {p.LastMb} ({p.MaxMb})");
                }
            }
            AnsiConsole.Write(table);
        }
    }
}
