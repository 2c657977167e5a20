using System.Text;
using StackExchange.Redis;
using WorkCluster.Queue;
using WorkCluster.Tests.Infrastructure;
using Xunit.Abstractions;

namespace WorkCluster.Tests.Resilience;

/// <summary>
/// What a 202 promises when the store itself dies: 50 clients submit without pause, the store is killed with SIGKILL at
/// a random moment mid-stream and started again, and every job that got a 202 is checked, in the store, to be there and
/// worked, and in the workers' attempt logs to have run once. Ten rounds, each killing at another moment.
/// </summary>
public static class StoreCrashRounds
{
    public const int Rounds = 10;
    private const int Clients = 50;
    private const int MostAcceptedPerClient = 40; // bounds the records a round leaves (the store has 32 MB)

    public sealed record Outcome(int Accepted, int Lost, int RanTwice, int NotWorked, string Log);

    /// <summary>Runs the rounds on <paramref name="app"/> (its workers keep an attempt log) and says what each lost.</summary>
    public static async Task<Outcome> RunAsync(AppFixture app, string attemptLog, ITestOutputHelper output)
    {
        var seed = Environment.TickCount;
        var random = new Random(seed);
        var log = new StringBuilder($"store {TestStore.Name}, seed {seed}\n");
        int accepted = 0, lost = 0, ranTwice = 0, notWorked = 0;
        var redis = await app.RedisAsync();
        for (var round = 1; round <= Rounds; round++)
        {
            await app.RestoreAsync();
            var killAfter = TimeSpan.FromMilliseconds(random.Next(150, 1500));
            var ids = await SubmitWhileKillingAsync(app, killAfter);
            await app.StartAndWaitHealthyAsync("redis");

            // Every accepted job: there, and worked (a record the crash lost does not come back: it is not waited for).
            Dictionary<string, string?> records;
            var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
            do
            {
                await Task.Delay(200);
                records = await StatusesAsync(redis, ids);
            }
            while (!records.Values.All(s => s is null or "worked") && DateTime.UtcNow < deadline);
            var roundLost = records.Count(r => r.Value is null);
            var roundNotWorked = records.Count(r => r.Value is not null && r.Value != "worked");
            var runs = AttemptsPerJob(attemptLog);
            var roundTwice = ids.Count(id => runs.GetValueOrDefault(id) > 1);
            accepted += ids.Count;
            lost += roundLost;
            notWorked += roundNotWorked;
            ranTwice += roundTwice;
            log.Append($"round {round}: killed {killAfter.TotalMilliseconds:0} ms into the stream; {ids.Count} accepted (202), " +
                $"{roundLost} lost, {roundNotWorked} not worked, {roundTwice} ran twice\n");
        }
        log.Append($"in all: {accepted} accepted, {lost} lost, {notWorked} not worked, {ranTwice} ran twice");
        output.WriteLine(log.ToString());
        return new Outcome(accepted, lost, ranTwice, notWorked, log.ToString());
    }

    /// <summary>50 clients POST without pause; the store is killed <paramref name="killAfter"/> in; they go on a moment into the outage.</summary>
    private static async Task<List<string>> SubmitWhileKillingAsync(AppFixture app, TimeSpan killAfter)
    {
        var accepted = new List<string>();
        using var stop = new CancellationTokenSource();
        var clients = Enumerable.Range(0, Clients).Select(client => Task.Run(async () =>
        {
            var mine = new List<string>();
            var n = 0;
            while (!stop.IsCancellationRequested && mine.Count < MostAcceptedPerClient)
            {
                try
                {
                    using var response = await app.Work.PostRawAsync($$"""{"type":"echo","data":"{{client}}-{{n++}}"}""");
                    if (response.StatusCode == HttpStatusCode.Accepted)
                    {
                        mine.Add(JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("callback").GetString()!);
                    }
                    else
                    {
                        await Task.Delay(20); // 503 (the store is away), 429
                    }
                }
                catch (HttpRequestException)
                {
                    await Task.Delay(20);
                }
            }
            return mine;
        })).ToArray();

        await Task.Delay(killAfter);
        var store = app.GetProcess("redis");
        ProcessTree.Signal(store, 9);
        await ProcessTree.WaitForExitAsync(store, TimeSpan.FromSeconds(30));
        await Task.Delay(500);
        await stop.CancelAsync();
        foreach (var client in clients)
        {
            accepted.AddRange(await client);
        }
        return accepted;
    }

    private static async Task<Dictionary<string, string?>> StatusesAsync(IDatabase redis, List<string> ids)
    {
        var statuses = new Dictionary<string, string?>();
        foreach (var chunk in ids.Chunk(500))
        {
            var records = await redis.HashGetAsync(AppFixture.QueueKeys.Jobs, chunk.Select(id => (RedisValue)id).ToArray());
            for (var i = 0; i < chunk.Length; i++)
            {
                statuses[chunk[i]] = records[i].HasValue
                    ? JsonDocument.Parse((string)records[i]!).RootElement.GetProperty("status").GetString()
                    : null;
            }
        }
        return statuses;
    }

    /// <summary>How many attempts of each job the workers started, from their shared attempt log (job id, attempt, pid, worker).</summary>
    private static Dictionary<string, int> AttemptsPerJob(string attemptLog)
    {
        var runs = new Dictionary<string, int>();
        using var stream = new FileStream(attemptLog, FileMode.OpenOrCreate, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(stream);
        while (reader.ReadLine() is { } line)
        {
            var id = line.Split(' ')[0];
            runs[id] = runs.GetValueOrDefault(id) + 1;
        }
        return runs;
    }
}

/// <summary>With the default durability (acknowledged), a 202 survives a kill -9 of the store: nothing lost, nothing run twice.</summary>
[Collection(ThreeWorkersCollection.Name)]
public sealed class StoreCrashTests(ThreeWorkersAppFixture app, ITestOutputHelper output)
{
    [Fact]
    public async Task A_job_that_got_a_202_survives_a_kill_of_the_store_and_is_worked_exactly_once()
    {
        var outcome = await StoreCrashRounds.RunAsync(app, app.AttemptLog, output);

        Assert.True(outcome.Accepted > 10 * StoreCrashRounds.Rounds, $"too few jobs were accepted to tell anything:\n{outcome.Log}");
        Assert.True(outcome.Lost == 0, $"accepted jobs were lost:\n{outcome.Log}");
        Assert.True(outcome.NotWorked == 0, $"accepted jobs were never worked:\n{outcome.Log}");
        Assert.True(outcome.RanTwice == 0, $"accepted jobs ran twice:\n{outcome.Log}");
    }
}

/// <summary>
/// With Redis:Durability=fast the store answers before the write is on disk: a crash may lose the last writes (this
/// test counts what it lost), but leaves no job stuck: whatever the store still has is worked.
/// </summary>
[Collection(FastStoreCollection.Name)]
public sealed class FastStoreCrashTests(FastStoreAppFixture app, ITestOutputHelper output)
{
    [Fact]
    public async Task With_fast_durability_a_kill_of_the_store_may_lose_the_last_writes_but_leaves_no_job_stuck()
    {
        var outcome = await StoreCrashRounds.RunAsync(app, app.AttemptLog, output);

        Assert.True(outcome.Accepted > 10 * StoreCrashRounds.Rounds, $"too few jobs were accepted to tell anything:\n{outcome.Log}");
        Assert.True(outcome.NotWorked == 0, $"jobs the store kept were never worked:\n{outcome.Log}");
    }
}
