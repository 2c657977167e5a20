using System.Net.Http.Headers;
using System.Text;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using WorkCluster.Queue;
using WorkCluster.Tests.Infrastructure;
using Xunit.Abstractions;

namespace WorkCluster.Tests.Api;

/// <summary>Failures, repeated requests and overload, as a client of the HTTP API sees them.</summary>
[Collection(ClusterCollection.Name)]
public sealed class RetryAndDeadLetterTests(ClusterAppFixture app, ITestOutputHelper output)
{
    [Fact]
    public async Task Work_failing_twice_then_succeeding_is_worked_on_attempt_3()
    {
        var job = await app.Work.SubmitAsync("flaky", """{"fail_times":2,"error":"backend busy"}""");

        var worked = await app.Work.WaitForStatusAsync(job.Id, "worked");

        Assert.Equal(3, worked.GetProperty("attempts").GetInt32());
        Assert.Equal(3, worked.GetProperty("result").GetProperty("succeeded_on_attempt").GetInt32());
        Assert.Equal("FlakyWorkException: backend busy", worked.GetProperty("last_error").GetString());
    }

    [Fact]
    public async Task While_a_retry_waits_the_job_is_pending_with_its_attempts_and_last_error()
    {
        var job = await app.Work.SubmitAsync("flaky", """{"fail_times":1,"error":"first try fails"}""");

        var sawWaiting = false;
        var deadline = DateTime.UtcNow.AddSeconds(20);
        JsonElement? last = null;
        while (DateTime.UtcNow < deadline && last?.GetProperty("status").GetString() != "worked")
        {
            last = await app.Work.GetAsync(job.Id);
            if (last?.GetProperty("status").GetString() == "pending" && last.Value.GetProperty("attempts").GetInt32() == 1)
            {
                Assert.Equal("FlakyWorkException: first try fails", last.Value.GetProperty("last_error").GetString());
                sawWaiting = true;
            }
            await Task.Delay(10);
        }

        Assert.Equal("worked", last?.GetProperty("status").GetString());
        Assert.True(sawWaiting, "never saw the job pending between its attempts");
    }

    [Fact]
    public async Task Always_failing_work_is_dead_lettered_after_max_attempts_listed_and_retry_requeues_it()
    {
        var job = await app.Work.SubmitAsync("flaky", """{"error":"never works"}""");

        var failed = await app.Work.WaitForStatusAsync(job.Id, "failed");
        Assert.Equal(ClusterAppFixture.MaxAttempts, failed.GetProperty("attempts").GetInt32());
        Assert.Equal("FlakyWorkException: never works", failed.GetProperty("last_error").GetString());

        // Listed in the dead letter, newest first.
        var page = await app.Gateway.GetFromJsonAsync<JsonElement>($"{WorkClient.WorkPath}?status=failed&limit=500");
        Assert.Equal("failed", page.GetProperty("status").GetString());
        Assert.Contains(job.Id, page.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("id").GetString()));
        var failedTimes = page.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("finished_at").GetDateTimeOffset()).ToArray();
        Assert.Equal(failedTimes.OrderDescending(), failedTimes);

        // Retry: back in the queue with attempts reset, off the dead-letter list, and it runs again.
        using var retry = await app.Gateway.PostAsync($"{WorkClient.WorkPath}/{job.Id}/retry", null);
        Assert.Equal(HttpStatusCode.Accepted, retry.StatusCode);
        Assert.Equal($"{WorkClient.WorkPath}/{job.Id}", retry.Headers.Location?.OriginalString);
        var again = await WaitForFailureAfterAsync(job.Id, failed.GetProperty("finished_at").GetDateTimeOffset());
        // With attempts reset it ran MaxAttempts more times; without, it would have failed at attempt MaxAttempts + 1.
        Assert.Equal(ClusterAppFixture.MaxAttempts, again.GetProperty("attempts").GetInt32());
    }

    private async Task<JsonElement> WaitForFailureAfterAsync(string id, DateTimeOffset earlierFailure)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            var job = await app.Work.GetAsync(id);
            if (job?.GetProperty("status").GetString() == "failed" && job.Value.GetProperty("finished_at").GetDateTimeOffset() > earlierFailure)
            {
                return job.Value;
            }
            await Task.Delay(50);
        }
        Assert.Fail($"Job {id} did not fail again after its retry");
        return default;
    }

    [Fact]
    public async Task Retrying_work_that_has_not_failed_is_a_409_and_unknown_work_a_404()
    {
        var job = await app.Work.SubmitAsync("echo", "1");
        await app.Work.WaitForStatusAsync(job.Id, "worked");

        using var notFailed = await app.Gateway.PostAsync($"{WorkClient.WorkPath}/{job.Id}/retry", null);
        using var unknown = await app.Gateway.PostAsync($"{WorkClient.WorkPath}/AAAAAAAAAAAAAAAAAAAAAA/retry", null);

        Assert.Equal(HttpStatusCode.Conflict, notFailed.StatusCode);
        Assert.Equal("application/problem+json", notFailed.Content.Headers.ContentType?.MediaType);
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
    }

    [Theory]
    [InlineData("")]
    [InlineData("?status=worked")]
    [InlineData("?status=failed&limit=0")]
    [InlineData("?status=failed&limit=501")]
    [InlineData("?status=failed&offset=-1")]
    [InlineData("?status=failed&offset=x")]
    public async Task Listing_anything_but_a_valid_page_of_failed_work_is_a_400(string query)
    {
        using var response = await app.Gateway.GetAsync(WorkClient.WorkPath + query);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task A_handler_running_past_its_timeout_loses_the_attempt()
    {
        // The API refuses a sleep longer than the type's timeout; a job queued before the timeout was lowered can still
        // hold one: queued here straight into Redis, as the queue library does.
        var sleepMs = (int)(ClusterAppFixture.HandlerTimeout.TotalMilliseconds * 3);
        var queue = new WorkQueue((await app.RedisAsync()).Multiplexer, new QueueScripts(), AppFixture.QueueKeys,
            Microsoft.Extensions.Options.Options.Create(new QueueOptions()),
            new QueueTelemetry(new ServiceCollection().AddMetrics().BuildServiceProvider().GetRequiredService<IMeterFactory>()),
            new WorkCluster.Redis.StoreCommit(WorkCluster.Redis.Durability.Acknowledged));
        var job = await queue.EnqueueAsync("sleep", $$"""{"sleep_ms":{{sleepMs}}}""", "test");

        var deadline = DateTime.UtcNow + ClusterAppFixture.HandlerTimeout + TimeSpan.FromSeconds(15);
        JsonElement? seen = null;
        while (DateTime.UtcNow < deadline)
        {
            seen = await app.Work.GetAsync(job.Id!);
            if (seen?.TryGetProperty("last_error", out _) == true)
            {
                break;
            }
            await Task.Delay(100);
        }

        Assert.StartsWith("Timed out after", seen?.GetProperty("last_error").GetString());
    }

    [Fact]
    public async Task Fifty_concurrent_posts_with_one_idempotency_key_make_one_job_and_fifty_identical_answers()
    {
        var key = Guid.NewGuid().ToString();
        const string body = """{"type":"echo","data":{"order":42}}""";

        var answers = await Task.WhenAll(Enumerable.Range(0, 50).Select(async _ =>
        {
            using var response = await PostAsync(body, key);
            return (response.StatusCode, Body: await response.Content.ReadAsStringAsync());
        }));

        Assert.All(answers, a => Assert.Equal(HttpStatusCode.Accepted, a.StatusCode));
        Assert.Single(answers.Select(a => a.Body).Distinct());
        var id = JsonDocument.Parse(answers[0].Body).RootElement.GetProperty("callback").GetString()!;
        var worked = await app.Work.WaitForStatusAsync(id, "worked");
        Assert.Equal(1, worked.GetProperty("attempts").GetInt32());

        // The same key with another body is refused, and queues nothing.
        using var conflict = await PostAsync("""{"type":"echo","data":{"order":43}}""", key);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, conflict.StatusCode);
        Assert.Equal("application/problem+json", conflict.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task A_replayed_submission_says_so_and_an_invalid_key_is_a_400()
    {
        var key = Guid.NewGuid().ToString();
        using var first = await PostAsync("""{"data":1,"type":"echo"}""", key);
        using var second = await PostAsync("""{"data":1,"type":"echo"}""", key);
        using var invalid = await PostAsync("""{"data":1,"type":"echo"}""", new string('k', 256));

        Assert.False(first.Headers.Contains("Idempotent-Replayed"));
        Assert.Equal("true", second.Headers.GetValues("Idempotent-Replayed").Single());
        Assert.Equal(HttpStatusCode.BadRequest, invalid.StatusCode);
    }

    [Fact]
    public async Task A_full_queue_answers_429_with_retry_after_and_every_accepted_job_is_worked()
    {
        // Two workers hold 32 jobs at a time; the queue holds 20 more; a burst of 150 overflows it. Each accepted job
        // is watched from the moment it is accepted: its result lives only 2 s.
        var answers = await Task.WhenAll(Enumerable.Range(0, 150).Select(async _ =>
        {
            using var response = await app.Work.PostRawAsync("""{"type":"sleep","data":{"sleep_ms":1000}}""");
            var body = await response.Content.ReadAsStringAsync();
            JsonElement? worked = response.StatusCode == HttpStatusCode.Accepted
                ? await app.Work.WaitForStatusAsync(JsonDocument.Parse(body).RootElement.GetProperty("callback").GetString()!,
                    "worked", TimeSpan.FromSeconds(60), TimeSpan.FromMilliseconds(200))
                : null;
            return (response.StatusCode, RetryAfter: response.Headers.RetryAfter?.Delta, Body: body, Worked: worked);
        }));

        var refused = answers.Where(a => a.StatusCode == HttpStatusCode.TooManyRequests).ToArray();
        var accepted = answers.Where(a => a.StatusCode == HttpStatusCode.Accepted).ToArray();
        output.WriteLine($"{accepted.Length} accepted (all worked), {refused.Length} refused with 429");
        Assert.Equal(answers.Length, accepted.Length + refused.Length);
        Assert.NotEmpty(refused);
        Assert.All(refused, r =>
        {
            Assert.True(r.RetryAfter > TimeSpan.Zero);
            Assert.Equal("The work queue is full", JsonDocument.Parse(r.Body).RootElement.GetProperty("title").GetString());
        });
        Assert.All(accepted, a => Assert.Equal("worked", a.Worked?.GetProperty("status").GetString()));
    }

    private Task<HttpResponseMessage> PostAsync(string body, string idempotencyKey)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, WorkClient.WorkPath)
        {
            Content = new StringContent(body, Encoding.UTF8, new MediaTypeHeaderValue("application/json")),
        };
        request.Headers.TryAddWithoutValidation("Idempotency-Key", idempotencyKey);
        return app.Gateway.SendAsync(request);
    }
}
