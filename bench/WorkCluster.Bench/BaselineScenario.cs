using System.Diagnostics;
using Spectre.Console;
using StackExchange.Redis;

namespace WorkCluster.Bench;

public sealed record BaselineResult(int Pairs, int Producers, int Consumers, double Seconds, double PairsPerSecond, LatencySummary PushToPop,
    double? RedisCpuUsPerJob, double ClientCpuUsPerJob);

/// <summary>
/// The ceiling: what Redis and the same client do with no queue logic at all. P producers LPUSH (each awaiting
/// every push, as a submitting API does), C consumers BRPOP on connections of their own (blocking commands need
/// one each), until N pairs are done.
/// </summary>
public static class BaselineScenario
{
    public static async Task<BaselineResult> RunAsync(BenchOptions options, RedisServerProcess store, ProgressContext progress)
    {
        var redis = store.ConnectionString;
        var key = $"bench:baseline:{Guid.NewGuid():N}";
        var padding = new string('x', Math.Max(0, options.PayloadBytes - 20));
        await using var producerConnection = await ConnectionMultiplexer.ConnectAsync(redis);
        var consumerConnections = await Task.WhenAll(Enumerable.Range(0, options.Concurrency)
            .Select(_ => ConnectionMultiplexer.ConnectAsync(redis + ",asyncTimeout=10000")));
        var latency = new Latency();
        var popped = 0;
        var done = TimeSpan.Zero;
        var task = progress.AddTask("baseline: push + pop pairs", maxValue: options.Jobs);
        var cpu = await Cpu.StartAsync(producerConnection, store.Pid);
        var clock = Stopwatch.StartNew();

        var consumers = consumerConnections.Select(connection => Task.Run(async () =>
        {
            var db = connection.GetDatabase();
            while (Volatile.Read(ref popped) < options.Jobs)
            {
                var result = await db.ExecuteAsync("BRPOP", key, 1);
                if (result.IsNull)
                {
                    continue;
                }
                var value = (string)((RedisResult[])result!)[1]!;
                latency.Record(Stopwatch.GetElapsedTime(long.Parse(value.AsSpan(0, value.IndexOf('|')))));
                if (Interlocked.Increment(ref popped) == options.Jobs)
                {
                    done = clock.Elapsed; // not when the other consumers' last BRPOP times out
                }
                task.Increment(1);
            }
        })).ToArray();
        var producers = Enumerable.Range(0, options.Producers).Select(p => Task.Run(async () =>
        {
            var db = producerConnection.GetDatabase();
            for (var i = p; i < options.Jobs; i += options.Producers)
            {
                await db.ListLeftPushAsync(key, $"{Stopwatch.GetTimestamp()}|{padding}");
            }
        })).ToArray();

        await Task.WhenAll(producers);
        await Task.WhenAll(consumers);
        var seconds = done.TotalSeconds;
        var perJob = await cpu.PerJobAsync(options.Jobs);
        foreach (var connection in consumerConnections)
        {
            await connection.DisposeAsync();
        }
        await producerConnection.GetDatabase().KeyDeleteAsync(key);
        return new BaselineResult(options.Jobs, options.Producers, options.Concurrency, Math.Round(seconds, 3),
            Math.Round(options.Jobs / seconds, 1), latency.Summary(), perJob.RedisCpuUsPerJob, perJob.ClientCpuUsPerJob);
    }
}
