using System.Diagnostics;
using WorkCluster.Tests.Infrastructure;
using WorkCluster.Webhooks;
using Xunit.Abstractions;

namespace WorkCluster.Tests.Results;

/// <summary>
/// Webhooks on the real app, to real HTTP receivers of the test's own: retried until delivered, signed with the
/// secret, one <c>webhook-id</c> for every attempt; ended failed after the last attempt; delivered even when the
/// worker delivering it is killed mid-way.
/// </summary>
[Collection(ThreeWorkersCollection.Name)]
public sealed class WebhookTests(ThreeWorkersAppFixture app, ITestOutputHelper output) : IAsyncLifetime
{
    public Task InitializeAsync() => app.RestoreAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task A_receiver_that_fails_twice_gets_the_signed_delivery_on_attempt_three_with_one_webhook_id()
    {
        await using var receiver = new WebhookReceiver(attempt => attempt <= 2 ? 500 : 200);
        var id = await SubmitWithCallbackAsync(receiver.Url, "echo", "\"hello\"");

        var job = await WaitForWebhookAsync(id, "delivered");
        var webhook = job.GetProperty("webhook");
        Assert.Equal(3, webhook.GetProperty("attempts").GetInt32());
        Assert.Equal(200, webhook.GetProperty("last_status").GetInt32());

        var requests = receiver.All.ToArray();
        Assert.Equal(3, requests.Length);
        Assert.Single(requests.Select(r => r.Headers["webhook-id"]).Distinct());
        var signer = new WebhookSigner(await app.GetParameterAsync("webhook-secret"));
        foreach (var request in requests)
        {
            var timestamp = long.Parse(request.Headers["webhook-timestamp"]);
            Assert.InRange(DateTimeOffset.FromUnixTimeSeconds(timestamp), DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddMinutes(1));
            Assert.True(signer.Verify(request.Headers["webhook-id"], timestamp, request.Body, request.Headers["webhook-signature"]),
                $"signature of attempt {request.Attempt} does not verify");
            Assert.False(new WebhookSigner("another-secret-of-enough-length").Verify(request.Headers["webhook-id"], timestamp, request.Body,
                request.Headers["webhook-signature"]));
            Assert.Equal("application/json", request.Headers["content-type"].Split(';')[0]);
        }
        var body = JsonDocument.Parse(requests[^1].Body).RootElement;
        Assert.Equal("work.worked", body.GetProperty("type").GetString());
        Assert.Equal(id, body.GetProperty("data").GetProperty("id").GetString());
        Assert.Equal("hello", body.GetProperty("data").GetProperty("result").GetString());
        output.WriteLine($"attempts at +{string.Join(", +", requests.Select(r => (r.At - requests[0].At).TotalMilliseconds.ToString("F0")))} ms");
    }

    [Fact]
    public async Task A_receiver_that_never_answers_ends_failed_after_the_last_attempt()
    {
        await using var receiver = new WebhookReceiver(_ => 0);
        var id = await SubmitWithCallbackAsync(receiver.Url, "echo", "1");

        var job = await WaitForWebhookAsync(id, "failed");
        var webhook = job.GetProperty("webhook");
        Assert.Equal(ThreeWorkersAppFixture.WebhookMaxAttempts, webhook.GetProperty("attempts").GetInt32());
        Assert.Contains("No answer within", webhook.GetProperty("last_error").GetString());
        Assert.False(webhook.TryGetProperty("last_status", out _));
        // One request per counted attempt, and at most one more: an attempt that a stopping worker cuts short is
        // released uncounted (it "did not happen"), though its request may have reached the receiver already (at
        // least once). Seen once in a full run on Garnet, where a worker restarted by the test before was still stopping.
        Assert.InRange(receiver.All.Count, ThreeWorkersAppFixture.WebhookMaxAttempts, ThreeWorkersAppFixture.WebhookMaxAttempts + 1);
        Assert.Single(receiver.All.Select(r => r.Headers["webhook-id"]).Distinct()); // one delivery, whatever the count
        Assert.Equal("worked", job.GetProperty("status").GetString());
    }

    [Fact]
    public async Task A_delivery_whose_process_is_killed_mid_way_is_delivered_by_another()
    {
        await using var receiver = new WebhookReceiver(attempt => attempt == 1 ? 0 : 200);
        var id = await SubmitWithCallbackAsync(receiver.Url, "echo", "2");

        var first = await receiver.NextAsync();
        var node = (await app.Work.GetAsync(id))!.Value.GetProperty("webhook").GetProperty("worker").GetString()!;
        var victim = await FindDeliveringProcessAsync(node);
        ProcessTree.Signal(victim, 9);
        var killed = Stopwatch.StartNew();
        await ProcessTree.WaitForExitAsync(victim);

        var job = await WaitForWebhookAsync(id, "delivered");
        var second = receiver.All.Last();
        Assert.Equal(first.Headers["webhook-id"], second.Headers["webhook-id"]);
        Assert.NotEqual(node, job.GetProperty("webhook").GetProperty("worker").GetString());
        Assert.Equal(2, job.GetProperty("webhook").GetProperty("attempts").GetInt32());
        output.WriteLine($"kill -9 of {node} during attempt 1 (receiver holding it); attempt 2 by another process delivered " +
            $"{killed.Elapsed.TotalMilliseconds:F0} ms after the kill (lease: Webhooks:TimeoutMs {ThreeWorkersAppFixture.WebhookTimeoutMs} ms + 2 s)");
    }

    private async Task<string> SubmitWithCallbackAsync(string url, string type, string data)
    {
        using var response = await app.Work.PostRawAsync($$"""{"type":"{{type}}","data":{{data}},"callback_url":"{{url}}"}""");
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, $"{(int)response.StatusCode}: {body}");
        return JsonDocument.Parse(body).RootElement.GetProperty("callback").GetString()!;
    }

    private async Task<JsonElement> WaitForWebhookAsync(string id, string status)
    {
        JsonElement? job = null;
        await Eventually.HoldsAsync(async () =>
        {
            // Not through WorkClient: while the gateway has yet to notice a killed API replica, a read may answer 502.
            using var response = await app.Gateway.GetAsync($"/api/v1/work/{id}");
            if (response.StatusCode != HttpStatusCode.OK)
            {
                return false;
            }
            job = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
            return job.Value.TryGetProperty("webhook", out var webhook) && webhook.GetProperty("status").GetString() == status;
        }, $"the webhook of {id} did not end {status}", TimeSpan.FromSeconds(60));
        return job!.Value;
    }

    /// <summary>
    /// The process that delivers as <paramref name="node"/>: webhooks go out from the API replicas (named as their
    /// resource: api-&lt;suffix&gt;) and the workers (found by their registry entry) alike.
    /// </summary>
    private async Task<Process> FindDeliveringProcessAsync(string node)
    {
        foreach (var api in await app.WaitForHealthyReplicasAsync("api", app.ApiReplicas, Eventually.DefaultPatience))
        {
            if (api == node)
            {
                return app.GetProcess(api);
            }
        }
        foreach (var worker in await app.WaitForHealthyReplicasAsync("worker", app.WorkerReplicas, Eventually.DefaultPatience))
        {
            var process = app.GetProcess(worker);
            if (await app.NodeIdOfAsync(process.Id) == node)
            {
                return process;
            }
        }
        throw new InvalidOperationException($"no API replica or worker process is {node}");
    }
}
