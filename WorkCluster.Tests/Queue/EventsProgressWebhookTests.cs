using System.Threading.Channels;
using StackExchange.Redis;
using WorkCluster.Cluster;
using WorkCluster.Queue;

namespace WorkCluster.Tests.Queue;

/// <summary>
/// What the scripts tell and keep for results that come to the client: every change of a job published as an event, in
/// order; progress stored and fenced by the lease; webhook deliveries leased, fenced, retried and ended.
/// </summary>
[Collection(RedisCollection.Name)]
public sealed class EventsProgressWebhookTests(RedisServerFixture redis)
{
    private static readonly QueueOptions Options = WithResultTtl(TimeSpan.FromMinutes(1));

    /// <summary>Finished records kept 300 ms: for the test that sees them go (the others keep theirs a minute, so that a
    /// slow machine never loses a record the test still reads).</summary>
    private static readonly QueueOptions ShortTtl = WithResultTtl(TimeSpan.FromMilliseconds(300));

    private static QueueOptions WithResultTtl(TimeSpan resultTtl) => new()
    {
        LeaseTtl = TimeSpan.FromSeconds(5),
        LeaseOutageGrace = TimeSpan.Zero,
        ResultTtl = resultTtl,
        MaxAttempts = 2,
        RetryBaseDelay = TimeSpan.FromMilliseconds(50),
        RetryMaxDelay = TimeSpan.FromMilliseconds(100),
    };

    private IDatabase Db => redis.Connection.GetDatabase();

    [Fact]
    public async Task Each_change_of_a_job_is_published_in_order_on_the_event_channel()
    {
        var space = redis.NewSpace(Options);
        var queue = space.Queue;
        await using var events = await EventListener.StartAsync(redis.Connection, queue.Keys.Events);

        var id = await queue.SubmitAsync("\"x\"");
        var job = Assert.Single(await queue.ClaimAsync("w1", 1));
        Assert.True(await queue.ReportProgressAsync(job.Lease, 40, "almost half"));
        Assert.Equal(QueueOutcome.RetryScheduled, await queue.FailAsync(job.Lease, 1, "boom"));
        await Task.Delay(Options.RetryMaxDelay + TimeSpan.FromMilliseconds(20)); // the retry's backoff
        var again = Assert.Single(await queue.ClaimAsync("w2", 1));
        Assert.Equal(QueueOutcome.Worked, await queue.CompleteAsync(again.Lease, "42"));

        var seen = await events.TakeAsync(e => e.GetProperty("id").GetString() == id, 7);
        Assert.Equal(["accepted", "started", "progress", "retried", "pending", "started", "worked"],
            seen.Select(e => e.GetProperty("type").GetString()));
        Assert.All(seen, e => Assert.Equal("echo", e.GetProperty("kind").GetString()));
        Assert.Equal(40, seen[2].GetProperty("percent").GetDouble());
        Assert.Equal("almost half", seen[2].GetProperty("message").GetString());
        Assert.Equal("boom", seen[3].GetProperty("error").GetString());
        Assert.Equal("w2", seen[6].GetProperty("worker").GetString());
        Assert.Equal(2, seen[6].GetProperty("attempt").GetInt32());
    }

    [Fact]
    public async Task Members_joining_and_leaving_are_published()
    {
        var space = redis.NewSpace(Options, new ClusterOptions { HeartbeatTtl = TimeSpan.FromMilliseconds(300) });
        await using var events = await EventListener.StartAsync(redis.Connection, space.Keyspace.Events);
        var node = new NodeInfo { Id = "node-a", Host = "h", Pid = 1, WorkTypes = ["echo"] };

        Assert.False(await space.Registry.HeartbeatAsync(node));
        Assert.True(await space.Registry.HeartbeatAsync(node)); // alive already: no event
        await space.Registry.LeaveAsync(node.Id);
        Assert.False(await space.Registry.HeartbeatAsync(node with { Id = "node-b" }));
        await Task.Delay(400); // node-b's heartbeat expires; the next heartbeat of anyone notices
        Assert.False(await space.Registry.HeartbeatAsync(node with { Id = "node-c" }));

        var seen = await events.TakeAsync(_ => true, 5);
        Assert.Equal(["member.joined:node-a", "member.left:node-a", "member.joined:node-b", "member.left:node-b", "member.joined:node-c"],
            seen.Select(e => $"{e.GetProperty("type").GetString()}:{e.GetProperty("node").GetString()}"));
        Assert.Equal("stopped", seen[1].GetProperty("reason").GetString());
        Assert.Equal("heartbeat expired", seen[3].GetProperty("reason").GetString());
        Assert.Equal("echo", seen[0].GetProperty("member").GetProperty("work_types")[0].GetString());
    }

    [Fact]
    public async Task Progress_is_stored_with_the_running_job_fenced_by_its_lease_and_cleared_when_it_is_worked()
    {
        var queue = redis.NewSpace(Options).Queue;
        var id = await queue.SubmitAsync();
        var job = Assert.Single(await queue.ClaimAsync("w1", 1));

        Assert.True(await queue.ReportProgressAsync(job.Lease, 150, null)); // clamped
        var progress = (await queue.GetAsync(id))!.Record.Progress!;
        Assert.Equal(100, progress.Percent);
        Assert.Null(progress.Message);
        Assert.True(progress.At > 0);

        Assert.False(await queue.ReportProgressAsync(job.Lease with { Token = "1-stale" }, 10, "not mine"));
        Assert.Equal(100, (await queue.GetAsync(id))!.Record.Progress!.Percent);

        Assert.Equal(QueueOutcome.Worked, await queue.CompleteAsync(job.Lease, "1"));
        Assert.Null((await queue.GetAsync(id))!.Record.Progress);
        Assert.False(await queue.ReportProgressAsync(job.Lease, 50, "too late"));
        Assert.Null((await queue.GetAsync(id))!.Record.Progress);
    }

    [Fact]
    public async Task A_progress_message_of_any_text_is_kept_on_one_line_within_a_kib_and_the_job_still_reads()
    {
        var queue = redis.NewSpace(Options).Queue;
        var id = await queue.SubmitAsync();
        var job = Assert.Single(await queue.ClaimAsync("w1", 1));

        Assert.True(await queue.ReportProgressAsync(job.Lease, 50, "line one\nline two\r\n\tand a bell \u0007" + new string('x', 5000)));
        var message = (await queue.GetAsync(id))!.Record.Progress!.Message!;
        Assert.StartsWith("line one line two", message);
        Assert.DoesNotContain(message, c => char.IsControl(c));
        Assert.True(System.Text.Encoding.UTF8.GetByteCount(message) <= ErrorText.MaxBytes);
        Assert.Equal(QueueOutcome.Worked, await queue.CompleteAsync(job.Lease, "1"));
    }

    [Fact]
    public async Task A_job_with_a_callback_gets_a_delivery_when_it_ends_that_is_retried_fenced_and_delivered()
    {
        var queue = redis.NewSpace(Options).Queue;
        var id = (await queue.EnqueueAsync("echo", "1", "api-test", new JobOptions { CallbackUrl = "https://example.com/hook" })).Id!;
        var plain = await queue.SubmitAsync();
        await using var events = await EventListener.StartAsync(redis.Connection, queue.Keys.Events);
        foreach (var job in await queue.ClaimAsync("w1", 2))
        {
            await queue.CompleteAsync(job.Lease, "\"done\"");
        }
        Assert.Null((await queue.GetAsync(plain))!.Record.Webhook);
        Assert.Equal(WebhookStatus.Pending, (await queue.GetAsync(id))!.Record.Webhook!.Status);

        // Attempt 1 fails: retried after the delay, not before.
        var first = Assert.Single(await queue.ClaimWebhooksAsync("w1", 10, TimeSpan.FromSeconds(5), maxAttempts: 3));
        Assert.Equal((id, 1, "https://example.com/hook"), (first.Id, first.Attempt, first.Job.Record.CallbackUrl));
        Assert.Equal("\"done\"", first.Job.Result);
        Assert.Equal(JobStatus.Worked, first.Job.Record.Status);
        Assert.Empty(await queue.ClaimWebhooksAsync("w2", 10, TimeSpan.FromSeconds(5), 3)); // leased
        Assert.Equal(QueueOutcome.RetryScheduled,
            await queue.RecordWebhookAsync(first, false, 500, "answered 500", TimeSpan.FromMilliseconds(200), 3));
        var state = (await queue.GetAsync(id))!.Record.Webhook!;
        Assert.Equal((WebhookStatus.Pending, 1, 500, "w1"), (state.Status, state.Attempts, state.LastStatus, state.Worker));
        Assert.NotNull(state.NextAttemptAt);
        Assert.Empty(await queue.ClaimWebhooksAsync("w2", 10, TimeSpan.FromSeconds(5), 3));
        await Task.Delay(250);

        // Attempt 2 is delivered; attempt 1's answer, recorded again, is stale.
        var second = Assert.Single(await queue.ClaimWebhooksAsync("w2", 10, TimeSpan.FromSeconds(5), 3));
        Assert.Equal(2, second.Attempt);
        Assert.NotEqual(first.Token, second.Token);
        Assert.Equal(QueueOutcome.Stale, await queue.RecordWebhookAsync(first, true, 200, null, TimeSpan.Zero, 3));
        Assert.Equal(QueueOutcome.Delivered, await queue.RecordWebhookAsync(second, true, 204, null, TimeSpan.Zero, 3));
        state = (await queue.GetAsync(id))!.Record.Webhook!;
        Assert.Equal((WebhookStatus.Delivered, 2, 204), (state.Status, state.Attempts, state.LastStatus));
        Assert.Null(state.LastError);
        Assert.Equal(0, await Db.SortedSetLengthAsync(queue.Keys.Webhooks));
        var delivered = Assert.Single(await events.TakeAsync(e => e.GetProperty("type").GetString()!.StartsWith("webhook."), 1));
        Assert.Equal(("webhook.delivered", id), (delivered.GetProperty("type").GetString(), delivered.GetProperty("id").GetString()));
    }

    [Fact]
    public async Task A_delivery_whose_attempt_records_nothing_is_taken_again_after_its_lease_and_fails_after_the_last_attempt()
    {
        var queue = redis.NewSpace(Options).Queue;
        var id = (await queue.EnqueueAsync("echo", "1", "api-test", new JobOptions { CallbackUrl = "http://example.com/" })).Id!;
        var job = Assert.Single(await queue.ClaimAsync("w1", 1));
        Assert.Equal(QueueOutcome.RetryScheduled, await queue.FailAsync(job.Lease, 1, "first"));
        Assert.Empty(await queue.ClaimWebhooksAsync("w1", 10, TimeSpan.FromSeconds(5), 2)); // not ended yet: a retry waits
        await Task.Delay(Options.RetryMaxDelay + TimeSpan.FromMilliseconds(20));
        job = Assert.Single(await queue.ClaimAsync("w1", 1));
        Assert.Equal(QueueOutcome.DeadLettered, await queue.FailAsync(job.Lease, 2, "second"));

        // The process making attempt 1 dies: its lease passes and the delivery is taken again (attempt 2).
        var lost = Assert.Single(await queue.ClaimWebhooksAsync("w1", 10, TimeSpan.FromMilliseconds(100), 2));
        Assert.Equal(JobStatus.Failed, lost.Job.Record.Status);
        await Task.Delay(150);
        var retaken = Assert.Single(await queue.ClaimWebhooksAsync("w2", 10, TimeSpan.FromMilliseconds(100), 2));
        Assert.Equal((2, "w2"), (retaken.Attempt, (await queue.GetAsync(id))!.Record.Webhook!.Worker));
        // Attempt 2 dies too: that was the last one; the next claim ends the delivery failed.
        await Task.Delay(150);
        Assert.Empty(await queue.ClaimWebhooksAsync("w3", 10, TimeSpan.FromMilliseconds(100), 2));
        var state = (await queue.GetAsync(id))!.Record.Webhook!;
        Assert.Equal((WebhookStatus.Failed, 2), (state.Status, state.Attempts));
        Assert.Contains("stopped", state.LastError);
        Assert.Equal(QueueOutcome.Stale, await queue.RecordWebhookAsync(retaken, true, 200, null, TimeSpan.Zero, 2));
    }

    [Fact]
    public async Task A_job_whose_webhook_is_still_being_delivered_outlives_its_ttl_until_the_delivery_ends()
    {
        var queue = redis.NewSpace(ShortTtl).Queue;
        var id = (await queue.EnqueueAsync("echo", "1", "api-test", new JobOptions { CallbackUrl = "http://example.com/" })).Id!;
        var plain = await queue.SubmitAsync();
        foreach (var job in await queue.ClaimAsync("w1", 2))
        {
            await queue.CompleteAsync(job.Lease, "1");
        }
        await Task.Delay(ShortTtl.ResultTtl + TimeSpan.FromMilliseconds(100));

        Assert.Null(await queue.GetAsync(plain));
        Assert.NotNull(await queue.GetAsync(id)); // readable past its TTL while its webhook is pending, not gone and back
        Assert.Equal(1, await queue.PurgeExpiredAsync()); // the plain job; the other is held while its webhook is pending
        Assert.False(await Db.HashExistsAsync(queue.Keys.Jobs, plain));
        Assert.True(await Db.HashExistsAsync(queue.Keys.Jobs, id));
        Assert.NotNull(await queue.GetAsync(id));

        // A worker stopping mid-attempt hands it back uncounted, due at once.
        var cut = Assert.Single(await queue.ClaimWebhooksAsync("w1", 10, TimeSpan.FromSeconds(5), 3));
        Assert.True(await queue.ReleaseWebhookAsync(cut));
        Assert.False(await queue.ReleaseWebhookAsync(cut)); // stale now
        var attempt = Assert.Single(await queue.ClaimWebhooksAsync("w2", 10, TimeSpan.FromSeconds(5), 3));
        Assert.Equal(1, attempt.Attempt);
        Assert.Equal(QueueOutcome.Delivered, await queue.RecordWebhookAsync(attempt, true, 200, null, TimeSpan.Zero, 3));
        // Delivered: kept until the time the purge last held it to (at most a minute), then gone like any other.
        Assert.Equal(WebhookStatus.Delivered, (await queue.GetAsync(id))!.Record.Webhook!.Status);
        var heldUntil = (await Db.SortedSetScoreAsync(queue.Keys.Expiry, id))!.Value;
        Assert.InRange(heldUntil - DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), 0, 60_000);
    }

    [Fact]
    public async Task A_failed_job_retried_from_the_dead_letter_drops_its_pending_delivery_and_runs_without_the_last_progress()
    {
        var queue = redis.NewSpace(new QueueOptions { LeaseTtl = Options.LeaseTtl, LeaseOutageGrace = TimeSpan.Zero, MaxAttempts = 1 }).Queue;
        var id = (await queue.EnqueueAsync("echo", "1", "api-test", new JobOptions { CallbackUrl = "http://example.com/" })).Id!;
        var job = Assert.Single(await queue.ClaimAsync("w1", 1));
        Assert.True(await queue.ReportProgressAsync(job.Lease, 90, "nearly"));
        Assert.Equal(QueueOutcome.DeadLettered, await queue.FailAsync(job.Lease, 1, "boom"));
        var failed = (await queue.GetAsync(id))!.Record;
        Assert.Null(failed.Progress);
        Assert.Equal(WebhookStatus.Pending, failed.Webhook!.Status);

        Assert.Equal(QueueOutcome.Queued, await queue.RetryFailedAsync(id));
        Assert.Null((await queue.GetAsync(id))!.Record.Webhook);
        Assert.Equal(0, await Db.SortedSetLengthAsync(queue.Keys.Webhooks));
        Assert.Empty(await queue.ClaimWebhooksAsync("w1", 10, TimeSpan.FromSeconds(5), 3));

        job = Assert.Single(await queue.ClaimAsync("w1", 1));
        Assert.Null(job.Record.Progress);
        Assert.Equal(QueueOutcome.Worked, await queue.CompleteAsync(job.Lease, "2"));
        var attempt = Assert.Single(await queue.ClaimWebhooksAsync("w1", 10, TimeSpan.FromSeconds(5), 3));
        Assert.Equal((JobStatus.Worked, 1), (attempt.Job.Record.Status, attempt.Attempt));
    }

    /// <summary>A subscription of the test's own to an event channel: every event, in order (arrays unpacked).</summary>
    private sealed class EventListener : IAsyncDisposable
    {
        private readonly ChannelMessageQueue _queue;
        private readonly Channel<JsonElement> _events = Channel.CreateUnbounded<JsonElement>();

        private EventListener(ChannelMessageQueue queue) => _queue = queue;

        public static async Task<EventListener> StartAsync(ConnectionMultiplexer connection, string channel)
        {
            var listener = new EventListener(await connection.GetSubscriber().SubscribeAsync(RedisChannel.Literal(channel)));
            listener._queue.OnMessage(message =>
            {
                var root = JsonDocument.Parse((string)message.Message!).RootElement.Clone();
                foreach (var e in root.ValueKind == JsonValueKind.Array ? root.EnumerateArray().ToArray() : [root])
                {
                    listener._events.Writer.TryWrite(e);
                }
            });
            return listener;
        }

        /// <summary>The first <paramref name="count"/> events that match, in the order they were published.</summary>
        public async Task<List<JsonElement>> TakeAsync(Func<JsonElement, bool> match, int count)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            var taken = new List<JsonElement>();
            while (taken.Count < count)
            {
                var e = await _events.Reader.ReadAsync(timeout.Token);
                if (match(e))
                {
                    taken.Add(e);
                }
            }
            return taken;
        }

        public async ValueTask DisposeAsync() => await _queue.UnsubscribeAsync();
    }
}
