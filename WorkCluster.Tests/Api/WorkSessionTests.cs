using System.Security.Cryptography;
using System.Text;
using WorkCluster.Tests.Infrastructure;

namespace WorkCluster.Tests.Api;

/// <summary>The README's session, through the gateway, against the real application.</summary>
[Collection(ClusterCollection.Name)]
public sealed class WorkSessionTests(ClusterAppFixture app)
{
    [Fact]
    public async Task Work_posted_as_in_the_readme_goes_pending_working_worked_then_404_after_its_ttl()
    {
        // curl -XPOST -d '{"data":"foo"}' sends it as a form, without naming a type.
        using var post = await app.Work.PostRawAsync("""{"data":"foo"}""", "application/x-www-form-urlencoded");

        Assert.Equal(HttpStatusCode.Accepted, post.StatusCode);
        var accepted = JsonDocument.Parse(await post.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("accepted", accepted.GetProperty("status").GetString());
        Assert.StartsWith("api-", accepted.GetProperty("accepted_by").GetString());
        var id = accepted.GetProperty("callback").GetString()!;
        Assert.Equal($"/api/v1/work/{id}", post.Headers.Location?.OriginalString);

        var statuses = new List<string>();
        var leases = new List<(string Status, bool Shown)>();
        JsonElement job;
        do
        {
            job = (await app.Work.GetAsync(id))!.Value;
            var status = job.GetProperty("status").GetString()!;
            if (statuses.Count == 0 || statuses[^1] != status)
            {
                statuses.Add(status);
            }
            if (job.TryGetProperty("lease_expires_at", out var lease))
            {
                // While working, when its lease lapses unless renewed: a lease TTL after the claim (or a renewal).
                Assert.True(lease.GetDateTimeOffset() > job.GetProperty("started_at").GetDateTimeOffset(), $"a lease that lapsed before it began: {job}");
            }
            leases.Add((status, job.TryGetProperty("lease_expires_at", out _)));
            await Task.Delay(20);
        }
        while (job.GetProperty("status").GetString() != "worked");
        Assert.All(leases, l => Assert.Equal(l.Status == "working", l.Shown)); // only a working job has a lease

        // Seen in order, never going back. The job sleeps 200 ms: a first GET slower than that on a loaded machine (a cold
        // path through the gateway) finds it worked already, so it may be the first status seen.
        Assert.Equal(statuses, new[] { "pending", "working", "worked" }.SkipWhile(s => s != statuses[0]));
        Assert.Equal(id, job.GetProperty("id").GetString());
        Assert.Equal("sleep", job.GetProperty("type").GetString());
        Assert.Equal(accepted.GetProperty("accepted_by").GetString(), job.GetProperty("accepted_by").GetString());
        Assert.StartsWith("worker-", job.GetProperty("worker").GetString());
        Assert.Equal(1, job.GetProperty("attempts").GetInt32());
        var created = job.GetProperty("created_at").GetDateTimeOffset();
        var started = job.GetProperty("started_at").GetDateTimeOffset();
        var finished = job.GetProperty("finished_at").GetDateTimeOffset();
        Assert.True(created <= started && started <= finished);
        // The sleep lasted what the AppHost's configuration told the workers.
        Assert.InRange(job.GetProperty("result").GetProperty("slept_ms").GetInt64(), ClusterAppFixture.SleepMs - 20, 10_000); // Linux timers run on a coarse clock: a few ms early at most

        // Readable until the TTL ends, then gone.
        var gone = false;
        var deadline = DateTime.UtcNow + ClusterAppFixture.ResultTtl + TimeSpan.FromSeconds(10);
        while (!gone && DateTime.UtcNow < deadline)
        {
            gone = await app.Work.GetAsync(id) is null;
            await Task.Delay(100);
        }
        Assert.True(gone, "the job was still readable long after its result TTL");
        Assert.True(DateTimeOffset.UtcNow >= finished + ClusterAppFixture.ResultTtl, "the job vanished before its result TTL");
    }

    [Fact]
    public async Task The_gateway_spreads_work_over_both_api_replicas_and_both_workers_work()
    {
        var accepted = new List<WorkClient.Accepted>();
        for (var i = 0; i < 20; i++)
        {
            accepted.Add(await app.Work.SubmitAsync("sleep", "null"));
        }

        Assert.Equal(app.ApiReplicas, accepted.Select(a => a.AcceptedBy).Distinct().Count());

        var worked = await app.Work.WaitForAllAsync(accepted.Select(a => a.Id), "worked");
        Assert.Equal(app.WorkerReplicas, worked.Select(w => w.GetProperty("worker").GetString()).Distinct().Count());
    }

    [Fact]
    public async Task Echo_returns_the_data_unchanged()
    {
        const string data = """{"text":"héllo ✓","list":[1,2.5,true,null],"nested":{"a":{"b":[]}}}""";
        var job = await app.Work.SubmitAsync("echo", data);

        var worked = await app.Work.WaitForStatusAsync(job.Id, "worked");

        Assert.True(JsonElement.DeepEquals(JsonDocument.Parse(data).RootElement, worked.GetProperty("result")),
            $"echo returned {worked.GetProperty("result")}");
    }

    [Theory]
    [InlineData("\"foo\"")]
    [InlineData("""{ "a" : [1, 2, 3] }""")]
    public async Task Sha256_returns_the_hex_digest_of_the_data_as_submitted(string data)
    {
        var job = await app.Work.SubmitAsync("sha256", data);

        var worked = await app.Work.WaitForStatusAsync(job.Id, "worked");

        var expected = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(data)));
        Assert.Equal(expected, worked.GetProperty("result").GetString());
    }
}
