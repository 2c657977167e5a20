using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using WorkCluster.Tests.Infrastructure;
using Xunit.Abstractions;

namespace WorkCluster.Tests.Api;

/// <summary>Recurring schedules through the API, run by every replica of the real app.</summary>
[Collection(ClusterCollection.Name)]
public sealed class ScheduleApiTests(ClusterAppFixture app, ITestOutputHelper output)
{
    [Fact]
    public async Task An_every_second_schedule_over_ten_seconds_makes_one_job_per_occurrence_though_an_api_replica_is_killed_midway()
    {
        var name = $"tick-{Guid.NewGuid():N}"[..13];
        var redis = await app.RedisAsync();
        var seen = new ConcurrentDictionary<string, (long Occurrence, string Runner, string Status)>();
        using var stopWatching = new CancellationTokenSource();
        // Worked jobs live 2 s (the app's result TTL): look often enough to see every one.
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
            await victim.WaitForExitAsync();
            var survivorPort = ports.Single(FreePorts.Listens);
            output.WriteLine($"killed {api} at +{(DateTimeOffset.UtcNow - putAt).TotalSeconds:F1} s");
            await Task.Delay(putAt.AddSeconds(10) - DateTimeOffset.UtcNow);

            // Through the surviving replica (the gateway notices the dead one only at its next health check).
            using var survivor = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{survivorPort}") };
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
            await app.RestoreAsync();
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

    [Fact]
    public async Task A_schedule_is_listed_replaced_with_its_history_kept_and_deleted()
    {
        var name = $"nightly-{Guid.NewGuid():N}"[..16];
        var path = $"/api/v1/schedules/{name}";
        using (var created = await app.Gateway.PutAsync(path, Json("""{"cron":"0 3 * * *","time_zone":"Europe/Paris","type":"echo","data":1}""")))
        {
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        }
        using (var replaced = await app.Gateway.PutAsync(path, Json("""{"cron":"30 3 * * *","type":"sleep","data":{"sleep_ms":1},"priority":8}""")))
        {
            var body = JsonDocument.Parse(await replaced.Content.ReadAsStringAsync()).RootElement;
            Assert.Equal(HttpStatusCode.OK, replaced.StatusCode);
            Assert.Equal(2, body.GetProperty("revision").GetInt64());
            Assert.Equal("UTC", body.GetProperty("time_zone").GetString());
            Assert.Equal(8, body.GetProperty("priority").GetInt32());
            var next = body.GetProperty("next_occurrences")[0].GetDateTimeOffset();
            Assert.Equal((3, 30, 0), (next.Hour, next.Minute, next.Second));
        }

        var list = JsonDocument.Parse(await app.Gateway.GetStringAsync("/api/v1/schedules")).RootElement;
        Assert.Contains(name, list.GetProperty("items").EnumerateArray().Select(s => s.GetProperty("name").GetString()));

        using (var deleted = await app.Gateway.DeleteAsync(path))
        {
            Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        }
        using var gone = await app.Gateway.GetAsync(path);
        Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
    }


    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");
}
