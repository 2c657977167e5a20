using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using Spectre.Console;

namespace WorkCluster.Bench;

public sealed record HttpResult(
    string Url, int Clients, double Seconds,
    long Accepted, double AcceptedPerSecond, long Errors, LatencySummary PostResponse, double WorkedPerSecond,
    double HalfRateTarget, long HalfRateAccepted, long HalfRateErrors, double HalfRateAchieved, LatencySummary SubmitToWorkedAtHalfRate,
    long NotWorked, IReadOnlyList<ProcessRss> Memory, double? RedisCpuUsPerJob, double ClientCpuUsPerJob,
    IReadOnlyDictionary<string, double> ClientCpuUsPerJobByProcess);

/// <summary>
/// Against a running app, as its clients see it: P clients POST no-op work as fast as it is accepted (the maximum
/// rate), then an open-loop load at half that rate, whose jobs' submit → worked latency is read from their records.
/// </summary>
public static class HttpScenario
{
    private const int LatencySample = 2000;

    /// <summary>The environment variable that holds the API key the scenario sends (the AppHost's admin-api-key or client-api-key).</summary>
    public const string ApiKeyVariable = "WORKCLUSTER_API_KEY";

    public static async Task<HttpResult> RunAsync(BenchOptions options, RedisServerProcess store, ProgressContext progress)
    {
        // The key comes from the environment, never from the command line (where every user of the machine sees it).
        using var http = NewClient(options.Url!, Environment.GetEnvironmentVariable(ApiKeyVariable));
        var body = Body(options);
        var memory = new ProcessMemory();
        memory.Sample();
        using var sampling = new CancellationTokenSource();
        var sampler = SampleMemoryAsync(memory, sampling.Token);

        await WarmUpAsync(http, body, options, progress, "http");

        // CPU of the app's processes (API, worker, gateway) and of the stores on this machine other than the benchmark's own.
        var appPids = ProcessMemory.AppProcessIds();
        var storePids = StoreProcessIds(except: store.Pid);
        var appCpu = appPids.ToDictionary(kind => kind.Key, kind => Cpu.OfProcesses(kind.Value));
        var storeCpu = Cpu.OfProcesses(storePids);
        var max = await MaxRateAsync(http, body, options, progress, "http", track: true);
        var seconds = max.Seconds;
        var acceptedPerSecond = max.AcceptedPerSecond;
        var errors = max.Errors;
        var postLatency = max.PostResponse;
        var workedPerSecond = await WorkedRateAsync(http, max.Ids, max.FirstJob);
        // Until the last job accepted at the maximum rate was worked: the workers' share of every job is in it.
        var accepted = Math.Max(1, max.Accepted);
        var appCpuPerJobOf = appPids.ToDictionary(kind => kind.Key,
            kind => Math.Round((Cpu.OfProcesses(kind.Value) - appCpu[kind.Key]).TotalMicroseconds / accepted, 2));
        var appCpuPerJob = Math.Round(appCpuPerJobOf.Values.Sum(), 2);
        double? storeCpuPerJob = storePids.Length == 0 ? null : Math.Round((Cpu.OfProcesses(storePids) - storeCpu).TotalMicroseconds / accepted, 2);

        // Half of that rate, open loop: requests leave on schedule whether or not the earlier ones were answered.
        var rate = Math.Max(1, acceptedPerSecond / 2);
        var halfTask = progress.AddTask($"http: {rate:F0}/s ({options.Duration.TotalSeconds:F0} s)", maxValue: options.Duration.TotalSeconds);
        var halfIds = new ConcurrentQueue<string>();
        long halfErrors = 0;
        var inFlight = new List<Task>();
        // Every k-th job's latency is read from its record shortly after it is accepted (before any TTL can pass).
        var sampleEvery = Math.Max(1, (long)(rate * options.Duration.TotalSeconds / LatencySample));
        var submitToWorked = new Latency();
        long notWorked = 0;
        var schedule = Stopwatch.StartNew();
        var ticker = TickAsync(halfTask, schedule, options.Duration);
        for (long sent = 0; schedule.Elapsed < options.Duration; sent++)
        {
            var wait = TimeSpan.FromSeconds(sent / rate) - schedule.Elapsed; // read the clock once: it moves between reads
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait);
            }
            var sampled = sent % sampleEvery == 0;
            inFlight.Add(Task.Run(async () =>
            {
                if (await PostAsync(http, body) is not { } id)
                {
                    Interlocked.Increment(ref halfErrors);
                    return;
                }
                halfIds.Enqueue(id);
                if (sampled)
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(500));
                    if (await WaitForWorkedAsync(http, id) is { } job)
                    {
                        submitToWorked.Record(job.Finished - job.Created);
                    }
                    else
                    {
                        Interlocked.Increment(ref notWorked);
                    }
                }
            }));
        }
        var halfSeconds = schedule.Elapsed.TotalSeconds;
        await ticker;
        await Task.WhenAll(inFlight);

        await sampling.CancelAsync();
        await sampler;
        memory.Sample();

        return new HttpResult(options.Url!, options.Clients, seconds,
            max.Accepted, acceptedPerSecond, errors, postLatency, Math.Round(workedPerSecond, 1),
            Math.Round(rate, 1), halfIds.Count, halfErrors, Math.Round(halfIds.Count / halfSeconds, 1), submitToWorked.Summary(),
            notWorked, memory.Summary(), storeCpuPerJob, appCpuPerJob, appCpuPerJobOf);
    }

    public static HttpClient NewClient(string url, string? apiKey)
    {
        var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 1024, PooledConnectionLifetime = TimeSpan.FromMinutes(10) })
        {
            BaseAddress = new Uri(url),
            Timeout = TimeSpan.FromSeconds(30),
        };
        if (apiKey is { Length: > 0 })
        {
            http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", apiKey);
        }
        return http;
    }

    /// <summary>The body every client posts: a no-op job with the run's payload.</summary>
    public static byte[] Body(BenchOptions options) => Encoding.UTF8.GetBytes($$"""{"type":"noop","data":{{options.Payload}}}""");

    /// <summary>
    /// Warm-up, untimed: every client posts as fast as it is answered for <see cref="BenchOptions.WarmUp"/> (connections,
    /// the servers' code compiled to its final tier, the scripts in Redis' cache).
    /// </summary>
    public static async Task WarmUpAsync(HttpClient http, byte[] body, BenchOptions options, ProgressContext progress, string name)
    {
        var task = progress.AddTask($"{name}: warm-up (untimed, {options.WarmUp.TotalSeconds:F0} s)", maxValue: options.WarmUp.TotalSeconds);
        var clock = Stopwatch.StartNew();
        var ticker = TickAsync(task, clock, options.WarmUp);
        await Task.WhenAll(Enumerable.Range(0, options.Clients).Select(_ => Task.Run(async () =>
        {
            do
            {
                await PostAsync(http, body);
            }
            while (clock.Elapsed < options.WarmUp);
        })));
        await ticker;
    }

    public sealed record MaxRate(double Seconds, long Accepted, double AcceptedPerSecond, long Errors, LatencySummary PostResponse,
        string[] Ids, Task<(DateTimeOffset Created, DateTimeOffset Finished)?>? FirstJob);

    /// <summary>The maximum rate: closed loop, every client posts again as soon as it is answered.</summary>
    public static async Task<MaxRate> MaxRateAsync(HttpClient http, byte[] body, BenchOptions options, ProgressContext progress, string name, bool track)
    {
        var maxTask = progress.AddTask($"{name}: max rate ({options.Clients} clients, {options.Duration.TotalSeconds:F0} s)", maxValue: options.Duration.TotalSeconds);
        var postLatency = new Latency();
        var ids = new ConcurrentQueue<string>();
        long accepted = 0;
        long errors = 0;
        Task<(DateTimeOffset Created, DateTimeOffset Finished)?>? firstJob = null;
        var firstTaken = 0;
        var clock = Stopwatch.StartNew();
        var ticker = TickAsync(maxTask, clock, options.Duration);
        await Task.WhenAll(Enumerable.Range(0, options.Clients).Select(_ => Task.Run(async () =>
        {
            while (clock.Elapsed < options.Duration)
            {
                var started = Stopwatch.GetTimestamp();
                var id = await PostAsync(http, body);
                postLatency.Record(Stopwatch.GetElapsedTime(started));
                if (id is null)
                {
                    Interlocked.Increment(ref errors);
                    continue;
                }
                Interlocked.Increment(ref accepted);
                if (track)
                {
                    ids.Enqueue(id);
                    // The first job is read at once: by the end of a long phase its result TTL may have passed.
                    if (Interlocked.Exchange(ref firstTaken, 1) == 0)
                    {
                        firstJob = WaitForWorkedAsync(http, id);
                    }
                }
            }
        })));
        var seconds = clock.Elapsed.TotalSeconds;
        await ticker;
        return new MaxRate(Math.Round(seconds, 3), accepted, Math.Round(accepted / seconds, 1), errors, postLatency.Summary(), ids.ToArray(), firstJob);
    }

    /// <summary>The processes of stores on this machine (redis-server, the embedded Garnet store) other than <paramref name="except"/>.</summary>
    private static int[] StoreProcessIds(int? except) =>
        Cpu.ProcessesNamed("redis-server").Concat(Cpu.ProcessesNamed("WorkCluster.Store")).Where(id => id != except).ToArray();

    /// <summary>POSTs one job; its id, or null for anything but 202.</summary>
    private static async Task<string?> PostAsync(HttpClient http, byte[] body)
    {
        try
        {
            using var content = new ByteArrayContent(body);
            content.Headers.ContentType = new("application/json");
            using var response = await http.PostAsync("/api/v1/work", content);
            if (response.StatusCode != HttpStatusCode.Accepted)
            {
                return null;
            }
            using var json = JsonDocument.Parse(await response.Content.ReadAsStreamAsync());
            return json.RootElement.GetProperty("callback").GetString();
        }
        catch (HttpRequestException)
        {
            return null;
        }
    }

    /// <summary>Jobs worked per second at the maximum rate: from the first job's creation to the last one's end.</summary>
    private static async Task<double> WorkedRateAsync(HttpClient http, string[] ids, Task<(DateTimeOffset Created, DateTimeOffset Finished)?>? firstJob)
    {
        if (ids.Length == 0 || firstJob is null)
        {
            return 0;
        }
        var first = await firstJob;
        var last = await WaitForWorkedAsync(http, ids[^1]);
        // The latest finish among the last jobs submitted (they are worked in about submission order).
        var tail = await Task.WhenAll(ids[^Math.Min(ids.Length, 200)..].Select(id => WaitForWorkedAsync(http, id)));
        var end = tail.Append(last).Max(j => j?.Finished ?? DateTimeOffset.MinValue);
        var start = first?.Created ?? end;
        var seconds = (end - start).TotalSeconds;
        return seconds > 0 ? ids.Length / seconds : double.NaN;
    }

    private static async Task<(DateTimeOffset Created, DateTimeOffset Finished)?> WaitForWorkedAsync(HttpClient http, string id)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            using var response = await http.GetAsync($"/api/v1/work/{id}");
            if (response.StatusCode == HttpStatusCode.NotFound)
            {
                return null; // gone: its TTL passed before it was read
            }
            if (response.StatusCode == HttpStatusCode.OK)
            {
                using var json = JsonDocument.Parse(await response.Content.ReadAsStreamAsync());
                var job = json.RootElement;
                if (job.GetProperty("status").GetString() == "worked")
                {
                    return (job.GetProperty("created_at").GetDateTimeOffset(), job.GetProperty("finished_at").GetDateTimeOffset());
                }
            }
            await Task.Delay(50);
        }
        return null;
    }

    private static async Task TickAsync(ProgressTask task, Stopwatch clock, TimeSpan duration)
    {
        while (clock.Elapsed < duration)
        {
            task.Value = clock.Elapsed.TotalSeconds;
            await Task.Delay(250);
        }
        task.Value = duration.TotalSeconds;
    }

    private static async Task SampleMemoryAsync(ProcessMemory memory, CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                await Task.Delay(TimeSpan.FromSeconds(5), cancellationToken);
                memory.Sample();
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
