using System.Net.Http.Headers;
using System.Text;
using WorkCluster.Tests.Infrastructure;
using Xunit.Abstractions;

namespace WorkCluster.Tests.Api;

/// <summary>
/// Who may do what (docs/security.md): keys with scopes, refusals as problems, work visible to its owner only,
/// Idempotency-Keys per key, and rate limits per key that hold across API replicas.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class ApiKeyTests(ClusterAppFixture app, ITestOutputHelper output)
{
    [Fact]
    public async Task Without_a_key_only_submitting_and_reading_ones_own_anonymous_work_is_allowed_in_development()
    {
        using var anonymous = app.CreateGatewayClient(key: null);
        var mine = await new WorkClient(anonymous).SubmitAsync("echo", "\"anonymous\"");
        Assert.NotNull(await new WorkClient(anonymous).GetAsync(mine.Id));

        var theirs = await app.Work.SubmitAsync("echo", "\"admin's\"");
        using var other = await anonymous.GetAsync($"/api/v1/work/{theirs.Id}");
        await AssertProblemAsync(other, HttpStatusCode.NotFound, "No such work");

        foreach (var path in new[] { "/api/v1/work?status=failed", "/api/v1/cluster", "/api/v1/schedules", "/api/v1/events" })
        {
            using var response = await anonymous.GetAsync(path);
            await AssertProblemAsync(response, HttpStatusCode.Unauthorized, "API key needed");
            Assert.Equal("Bearer", response.Headers.WwwAuthenticate.Single().Scheme);
        }
        using var run = await anonymous.PostAsync("/api/v1/cluster/run", Json("""{"type":"echo","data":1}"""));
        await AssertProblemAsync(run, HttpStatusCode.Unauthorized, "API key needed");
    }

    [Fact]
    public async Task A_wrong_key_is_refused_everywhere_even_where_no_key_is_needed()
    {
        using var wrong = app.CreateGatewayClient("not-a-key-of-this-cluster-at-all-0123456789");
        using var submit = await wrong.PostAsync("/api/v1/work", Json("""{"type":"echo","data":1}"""));
        await AssertProblemAsync(submit, HttpStatusCode.Unauthorized, "API key needed");
        Assert.Contains("invalid_token", submit.Headers.WwwAuthenticate.Single().Parameter);

        using var both = new HttpRequestMessage(HttpMethod.Get, "/api/v1/cluster");
        both.Headers.Authorization = new AuthenticationHeaderValue("Bearer", app.AdminKey);
        both.Headers.Add("X-Api-Key", app.AdminKey);
        using var twice = await app.CreateGatewayClient(null).SendAsync(both);
        await AssertProblemAsync(twice, HttpStatusCode.Unauthorized, "API key needed");

        using var basic = new HttpRequestMessage(HttpMethod.Get, "/api/v1/cluster");
        basic.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("admin:" + app.AdminKey)));
        using var notBearer = await app.CreateGatewayClient(null).SendAsync(basic);
        await AssertProblemAsync(notBearer, HttpStatusCode.Unauthorized, "API key needed");
    }

    [Fact]
    public async Task A_client_key_sees_and_cancels_only_its_own_work_and_no_admin_endpoint()
    {
        using var client = app.CreateGatewayClient(app.ClientKey);
        var work = new WorkClient(client);
        var mine = await SubmitLaterAsync(client);
        Assert.NotNull(await work.GetAsync(mine.Id));
        using (var events = await client.GetAsync($"/api/v1/work/{mine.Id}/events", HttpCompletionOption.ResponseHeadersRead))
        {
            Assert.Equal(HttpStatusCode.OK, events.StatusCode);
        }

        var theirs = await SubmitLaterAsync(app.Gateway);
        Assert.Null(await work.GetAsync(theirs.Id));
        using (var wait = await client.GetAsync($"/api/v1/work/{theirs.Id}?wait=1"))
        {
            await AssertProblemAsync(wait, HttpStatusCode.NotFound, "No such work");
        }
        using (var stream = await client.GetAsync($"/api/v1/work/{theirs.Id}/events"))
        {
            await AssertProblemAsync(stream, HttpStatusCode.NotFound, "No such work");
        }
        var (cancelTheirs, _) = await work.CancelAsync(theirs.Id);
        Assert.Equal(HttpStatusCode.NotFound, cancelTheirs);

        foreach (var (method, path) in new[]
        {
            (HttpMethod.Get, "/api/v1/work?status=failed"), (HttpMethod.Get, "/api/v1/cluster"), (HttpMethod.Get, "/api/v1/schedules"),
            (HttpMethod.Post, $"/api/v1/work/{theirs.Id}/retry"), (HttpMethod.Delete, "/api/v1/schedules/x"),
        })
        {
            using var response = await client.SendAsync(new HttpRequestMessage(method, path));
            var problem = await AssertProblemAsync(response, HttpStatusCode.Forbidden, "Scope missing");
            Assert.Contains("'admin'", problem.GetProperty("detail").GetString());
        }

        // The owner cancels its own work; the admin key reads anybody's (by Authorization or X-Api-Key) and cancels it.
        var (cancelMine, _) = await work.CancelAsync(mine.Id);
        Assert.Equal(HttpStatusCode.Accepted, cancelMine);
        using var admin = app.CreateGatewayClient(null);
        admin.DefaultRequestHeaders.Add("X-Api-Key", app.AdminKey);
        Assert.NotNull(await new WorkClient(admin).GetAsync(mine.Id));
        var (cancelTheirsAsAdmin, _) = await new WorkClient(admin).CancelAsync(theirs.Id);
        Assert.Equal(HttpStatusCode.Accepted, cancelTheirsAsAdmin);
    }

    [Fact]
    public async Task A_read_key_given_by_its_hash_reads_any_work_and_may_not_submit()
    {
        var theirs = await app.Work.SubmitAsync("echo", "\"for the reader\"");
        using var reader = app.CreateGatewayClient(ClusterAppFixture.ReaderKey);
        Assert.NotNull(await new WorkClient(reader).GetAsync(theirs.Id));
        using var submit = await reader.PostAsync("/api/v1/work", Json("""{"type":"echo","data":1}"""));
        var problem = await AssertProblemAsync(submit, HttpStatusCode.Forbidden, "Scope missing");
        Assert.Contains("'submit'", problem.GetProperty("detail").GetString());
        var (cancel, _) = await new WorkClient(reader).CancelAsync(theirs.Id);
        Assert.Equal(HttpStatusCode.Forbidden, cancel);
    }

    [Fact]
    public async Task A_key_in_rotation_and_the_key_it_replaces_are_one_owner()
    {
        using var oldKey = app.CreateGatewayClient(ClusterAppFixture.RotatingPreviousKey);
        using var newKey = app.CreateGatewayClient(ClusterAppFixture.RotatingKey);
        var submitted = await SubmitLaterAsync(oldKey);
        Assert.NotNull(await new WorkClient(newKey).GetAsync(submitted.Id)); // the client moved to the new key keeps its work
        var (cancel, _) = await new WorkClient(newKey).CancelAsync(submitted.Id);
        Assert.Equal(HttpStatusCode.Accepted, cancel);
    }

    [Fact]
    public async Task Callers_without_a_key_may_not_cancel_work_even_anonymous_work()
    {
        using var anonymous = app.CreateGatewayClient(key: null);
        var submitted = await SubmitLaterAsync(anonymous);
        var (cancel, _) = await new WorkClient(anonymous).CancelAsync(submitted.Id);
        Assert.Equal(HttpStatusCode.NotFound, cancel);
        Assert.Equal(HttpStatusCode.Accepted, (await app.Work.CancelAsync(submitted.Id)).Status);
    }

    [Fact]
    public async Task Idempotency_keys_are_per_api_key()
    {
        var idempotencyKey = $"order-{Guid.NewGuid():N}";
        using var client = app.CreateGatewayClient(app.ClientKey);
        var first = await SubmitWithKeyAsync(client, idempotencyKey);
        var again = await SubmitWithKeyAsync(client, idempotencyKey);
        var admins = await SubmitWithKeyAsync(app.Gateway, idempotencyKey);

        Assert.Equal(first.Id, again.Id);
        Assert.True(again.Replayed);
        Assert.NotEqual(first.Id, admins.Id); // the same key from another client is that client's own
        Assert.False(admins.Replayed);
    }

    [Fact]
    public async Task A_keys_rate_limit_holds_across_api_replicas_and_answers_429_with_the_ietf_headers()
    {
        var ports = app.ApiReplicaPorts().Where(FreePorts.Listens).ToArray();
        Assert.True(ports.Length >= 2, "both API replicas listen on their own ports");
        var replicas = ports.Select(port => AppFixture.UseKey(new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") },
            ClusterAppFixture.LimitedKey)).ToArray();
        try
        {
            // Let any earlier run's tokens refill: a full bucket holds Burst.
            await Task.Delay(TimeSpan.FromSeconds((double)ClusterAppFixture.LimitedBurst / ClusterAppFixture.LimitedPerSecond));
            const int sent = 30;
            var accepted = 0;
            var refusedBy = new HashSet<int>();
            var clock = System.Diagnostics.Stopwatch.StartNew();
            for (var i = 0; i < sent; i++)
            {
                using var response = await replicas[i % replicas.Length].PostAsync("/api/v1/work", Json("""{"type":"noop","data":1}"""));
                Assert.Equal("\"submit\";q=10;w=5", response.Headers.GetValues("RateLimit-Policy").Single());
                Assert.Matches("^\"submit\";r=\\d+;t=\\d+$", response.Headers.GetValues("RateLimit").Single());
                if (response.StatusCode == HttpStatusCode.Accepted)
                {
                    accepted++;
                    continue;
                }
                var problem = await AssertProblemAsync(response, HttpStatusCode.TooManyRequests, "Too many requests");
                Assert.Contains("'limited'", problem.GetProperty("detail").GetString());
                Assert.True(response.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1), "Retry-After of a second or more");
                refusedBy.Add(i % replicas.Length);
            }
            var allowed = ClusterAppFixture.LimitedBurst + (int)(clock.Elapsed.TotalSeconds * ClusterAppFixture.LimitedPerSecond) + 1;
            output.WriteLine($"{accepted} of {sent} accepted in {clock.Elapsed.TotalSeconds:0.00} s over {replicas.Length} replicas (at most {allowed})");
            Assert.InRange(accepted, ClusterAppFixture.LimitedBurst, allowed);
            Assert.Equal(replicas.Length, refusedBy.Count); // every replica refused: one bucket for the key, not one per replica
        }
        finally
        {
            foreach (var replica in replicas)
            {
                replica.Dispose();
            }
        }
    }

    [Fact]
    public async Task Concurrent_requests_on_one_key_get_no_more_than_its_bucket_holds()
    {
        var ports = app.ApiReplicaPorts().Where(FreePorts.Listens).ToArray();
        var replicas = ports.Select(port => AppFixture.UseKey(new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") },
            ClusterAppFixture.LimitedKey)).ToArray();
        try
        {
            await Task.Delay(TimeSpan.FromSeconds((double)ClusterAppFixture.LimitedBurst / ClusterAppFixture.LimitedPerSecond));
            // 40 at once over both replicas: their checks share token-bucket script calls (group commit), in which each
            // takes its token in turn.
            const int sent = 40;
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var statuses = await Task.WhenAll(Enumerable.Range(0, sent).Select(async i =>
            {
                using var response = await replicas[i % replicas.Length].PostAsync("/api/v1/work", Json("""{"type":"noop","data":1}"""));
                return response.StatusCode;
            }));
            var accepted = statuses.Count(s => s == HttpStatusCode.Accepted);
            var allowed = ClusterAppFixture.LimitedBurst + (int)(clock.Elapsed.TotalSeconds * ClusterAppFixture.LimitedPerSecond) + 1;
            output.WriteLine($"{accepted} of {sent} accepted at once in {clock.Elapsed.TotalSeconds:0.00} s (at most {allowed})");
            Assert.InRange(accepted, ClusterAppFixture.LimitedBurst, allowed);
            Assert.Equal(sent - accepted, statuses.Count(s => s == HttpStatusCode.TooManyRequests)); // the rest refused, nothing else
        }
        finally
        {
            foreach (var replica in replicas)
            {
                replica.Dispose();
            }
        }
    }

    /// <summary>Work that waits a minute before it is due: still there to be read and cancelled while the test runs.</summary>
    private static async Task<WorkClient.Accepted> SubmitLaterAsync(HttpClient http)
    {
        using var response = await new WorkClient(http).PostRawAsync("""{"type":"echo","data":1,"delay_ms":60000}""");
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, body);
        var json = JsonDocument.Parse(body).RootElement;
        return new WorkClient.Accepted(json.GetProperty("callback").GetString()!, json.GetProperty("accepted_by").GetString()!, response.Headers.Location);
    }

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    private static async Task<(string Id, bool Replayed)> SubmitWithKeyAsync(HttpClient http, string idempotencyKey)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/work") { Content = Json("""{"type":"echo","data":"once"}""") };
        request.Headers.Add("Idempotency-Key", idempotencyKey);
        using var response = await http.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, body);
        return (JsonDocument.Parse(body).RootElement.GetProperty("callback").GetString()!, response.Headers.Contains("Idempotent-Replayed"));
    }

    private static async Task<JsonElement> AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string title)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"expected {(int)status}, got {(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonDocument.Parse(body).RootElement.Clone();
        Assert.Equal(title, problem.GetProperty("title").GetString());
        return problem;
    }
}
