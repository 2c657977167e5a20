using System.Text;
using StackExchange.Redis;
using WorkCluster.Tests.Infrastructure;
using Xunit.Abstractions;

namespace WorkCluster.Tests.Deployment;

/// <summary>
/// Each kind of process reaches Redis as a user of its own that may run only what it uses (docs/security.md): the
/// API's user cannot wipe or reconfigure Redis, no user reaches keys outside WorkCluster's, and a whole round of
/// the application's work leaves no refusal in Redis's ACL log (no command the application needs is missing).
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class RedisUsersTests(ClusterAppFixture app, ITestOutputHelper output)
{
    [SkippableTheory]
    [InlineData("api")]
    [InlineData("worker")]
    [InlineData("monitor")]
    public async Task A_services_redis_user_is_refused_flushall_config_keys_and_keys_outside_workclusters(string user)
    {
        TestStore.SkipOnGarnet("Redis users (ACL): the embedded store runs with its default user only");
        await using var redis = await ConnectAsAsync(user);
        var db = redis.GetDatabase();
        await db.PingAsync(); // connected and authenticated as the user

        foreach (var (command, args) in new (string, object[])[]
        {
            ("FLUSHALL", []), ("FLUSHDB", []), ("CONFIG", ["SET", "maxmemory", "1"]), ("CONFIG", ["GET", "requirepass"]), ("KEYS", ["*"]),
            ("ACL", ["LIST"]), ("CLIENT", ["KILL", "TYPE", "normal"]), ("SCRIPT", ["FLUSH"]),
        })
        {
            var refused = await Assert.ThrowsAsync<RedisServerException>(() => db.ExecuteAsync(command, args));
            Assert.StartsWith("NOPERM", refused.Message);
        }
        // Not through a script either: Redis checks the commands a script calls as well.
        var scripted = await Assert.ThrowsAsync<RedisServerException>(() => db.ScriptEvaluateAsync("return redis.call('FLUSHALL')"));
        Assert.Contains("can't run this command", scripted.Message);
        var outside = await Assert.ThrowsAsync<RedisServerException>(() => db.StringSetAsync("not-workclusters:key", "x"));
        Assert.StartsWith("NOPERM", outside.Message);
        var otherChannel = await Assert.ThrowsAsync<RedisServerException>(() => db.PublishAsync(RedisChannel.Literal("other-channel"), "x"));
        Assert.StartsWith("NOPERM", otherChannel.Message);
    }

    [SkippableFact]
    public async Task A_round_of_the_applications_work_leaves_no_refusal_in_the_acl_log()
    {
        TestStore.SkipOnGarnet("Redis users (ACL) and ACL LOG: the embedded store runs with its default user only");
        var admin = await app.RedisAsync();
        await admin.ExecuteAsync("ACL", "LOG", "RESET");

        // Everything the services do with Redis, through the gateway: submit, wait, stream, cancel, fail and retry,
        // schedules, the cluster view, the mesh, the dead letter; the workers claim, renew, complete, fail and beat.
        var worked = await app.Work.SubmitAsync("echo", "\"acl\"");
        using (var wait = await app.Gateway.GetAsync($"/api/v1/work/{worked.Id}?wait=10"))
        {
            Assert.Equal(HttpStatusCode.OK, wait.StatusCode);
        }
        var failing = await app.Work.SubmitAsync("flaky", """{"fail_times":99}""");
        await app.Work.WaitForStatusAsync(failing.Id, "failed");
        using (var retry = await app.Gateway.PostAsync($"/api/v1/work/{failing.Id}/retry", null))
        {
            Assert.Equal(HttpStatusCode.Accepted, retry.StatusCode);
        }
        using (var delayed = await new WorkClient(app.Gateway).PostRawAsync("""{"type":"echo","data":1,"delay_ms":60000}"""))
        {
            var id = JsonDocument.Parse(await delayed.Content.ReadAsStringAsync()).RootElement.GetProperty("callback").GetString()!;
            Assert.Equal(HttpStatusCode.Accepted, (await app.Work.CancelAsync(id)).Status);
        }
        var name = $"acl-{Guid.NewGuid():N}";
        using (var put = await app.Gateway.PutAsync($"/api/v1/schedules/{name}",
            new StringContent("""{"cron":"* * * * *","type":"echo","data":1}""", Encoding.UTF8, "application/json")))
        {
            Assert.True(put.IsSuccessStatusCode, await put.Content.ReadAsStringAsync());
        }
        foreach (var path in new[] { "/api/v1/schedules", "/api/v1/work?status=failed", "/api/v1/cluster" })
        {
            using var read = await app.Gateway.GetAsync(path);
            Assert.Equal(HttpStatusCode.OK, read.StatusCode);
        }
        using (var delete = await app.Gateway.DeleteAsync($"/api/v1/schedules/{name}"))
        {
            Assert.True(delete.IsSuccessStatusCode);
        }
        using (var ping = await app.Gateway.PostAsync("/api/v1/cluster/ping", new StringContent("{}", Encoding.UTF8, "application/json")))
        {
            Assert.Equal(HttpStatusCode.OK, ping.StatusCode);
        }
        // A few heartbeats and sweeps of every worker, and the monitor's readings.
        await Task.Delay(TimeSpan.FromSeconds(3));

        var log = (RedisResult[])(await admin.ExecuteAsync("ACL", "LOG"))!;
        var entries = log.Select(entry => (RedisResult[])entry!)
            .Select(fields => string.Join(" ", Enumerable.Range(0, fields.Length / 2).Select(i => $"{fields[2 * i]}={fields[2 * i + 1]}")))
            .ToArray();
        output.WriteLine(entries.Length == 0 ? "ACL log empty" : string.Join("\n", entries));
        Assert.Empty(entries);
    }

    private async Task<ConnectionMultiplexer> ConnectAsAsync(string user)
    {
        var options = ConfigurationOptions.Parse(await app.App.GetConnectionStringAsync("redis") ?? throw new InvalidOperationException("no redis"));
        options.User = user;
        options.Password = await app.GetParameterAsync($"redis-{user}-password");
        options.AllowAdmin = true; // the server, not the client library, is to refuse the admin commands
        return await ConnectionMultiplexer.ConnectAsync(options);
    }
}
