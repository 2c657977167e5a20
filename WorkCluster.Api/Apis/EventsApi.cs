using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;
using StackExchange.Redis;
using WorkCluster.Api.Events;
using WorkCluster.Handlers;
using WorkCluster.Queue;

using WorkCluster.Api.Security;

namespace WorkCluster.Api.Apis;

/// <summary>
/// Results that come to the client, as server-sent events (<c>text/event-stream</c>): the changes of one job
/// (<c>/api/v1/work/{id}/events</c>) and the events of the whole cluster (<c>/api/v1/events</c>).
/// </summary>
public static partial class EventsApi
{
    public const string ClusterEventsPath = "/api/v1/events";

    /// <summary>A comment line this often keeps proxies (HAProxy's <c>timeout server</c>, YARP) from closing an idle stream.</summary>
    public static readonly TimeSpan KeepAlive = TimeSpan.FromSeconds(15);

    /// <summary>The event types there are, for filtering (<c>?type=</c>).</summary>
    public static readonly IReadOnlySet<string> EventTypes = new HashSet<string>(StringComparer.Ordinal)
    {
        "accepted", "pending", "started", "progress", "retried", "released", "requeued", "cancelling", "worked", "failed", "cancelled",
        "webhook.delivered", "webhook.failed", "member.joined", "member.left",
    };

    public static IEndpointRouteBuilder MapEventsApiV1(this IEndpointRouteBuilder app)
    {
        app.MapGet($"{WorkApi.BasePath}/{{id}}/events", StreamWork)
            .WithTags("Work")
            .WithName("StreamWork")
            .WithSummary("A job's changes as server-sent events: its current state first, then each change (status, progress), " +
                "ending after it is worked, failed or cancelled.")
            .WithDescription("Each event's data is the job as GET /api/v1/work/{id} shows it; its name is the new status, 'progress', " +
                "or 'update' (another field changed). A client that reconnects gets the current state first again, so it never misses " +
                "the end; one that reconnects with the Last-Event-ID of the final event gets 204 (an EventSource then stops).")
            .Produces(StatusCodes.Status200OK, contentType: "text/event-stream")
            .Produces(StatusCodes.Status204NoContent)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable)
            .RequireScope(ApiScopes.Read, ApiScopes.Submit, ApiScopes.Admin);

        app.MapGet(ClusterEventsPath, StreamClusterEvents)
            .WithTags("Cluster")
            .WithName("StreamClusterEvents")
            .WithSummary("The cluster's events as server-sent events, as they happen: work accepted, started, progress, retried, " +
                "worked, failed, cancelled; webhooks delivered or failed; members joined and left.")
            .WithDescription("Filter with ?type=worked,failed (event types) and ?kind=sleep,echo (work types; member events have none). " +
                "Live only: no replay. A 'gap' event says events were missed (a reconnect to Redis, or a client reading too slowly).")
            .Produces(StatusCodes.Status200OK, contentType: "text/event-stream")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable)
            .RequireScope(ApiScopes.Admin);
        return app;
    }

    public static async Task<IResult> StreamWork(string id, HttpContext context, WorkQueue queue, EventHub events,
        IHostApplicationLifetime lifetime, IOptions<JsonOptions> json)
    {
        if (!JobId.IsWellFormed(id))
        {
            return WorkApi.NoSuchWork(id);
        }
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, lifetime.ApplicationStopping);
        // Listening first, reading next: a change after the read cannot be missed.
        using var watch = await events.WatchJobAsync(id, stop.Token);
        var job = await queue.GetAsync(id);
        if (job is null || !WorkAccess.CanRead(context.User, job.Owner))
        {
            return WorkApi.NoSuchWork(id);
        }

        var status = WorkStatus.From(job);
        if (status.IsFinal && context.Request.Headers["Last-Event-ID"] == EventId(status))
        {
            // A client that has seen the end and reconnects (as EventSource does whenever a stream ends): nothing more
            // will come, and 204 tells an EventSource to stop.
            return Results.NoContent();
        }
        var sent = JsonSerializer.Serialize(status, json.Value.SerializerOptions);
        try
        {
            var stream = await SseStream.StartAsync(context);
            await stream.WriteAsync(EventId(status), status.Status.ToString().ToLowerInvariant(), sent, stop.Token);
            while (!status.IsFinal)
            {
                var signal = await watch.NextAsync(KeepAlive, stop.Token);
                if (signal is null)
                {
                    await stream.CommentAsync("keep-alive", stop.Token);
                    continue;
                }
                var next = await queue.GetAsync(id);
                if (next is null)
                {
                    await stream.WriteAsync(null, "gone", $$"""{"id":"{{id}}"}""", stop.Token); // its time to live has passed
                    break;
                }
                var changed = WorkStatus.From(next);
                var text = JsonSerializer.Serialize(changed, json.Value.SerializerOptions);
                if (text == sent)
                {
                    continue;
                }
                var name = changed.Status != status.Status ? changed.Status.ToString().ToLowerInvariant()
                    : changed.Progress != status.Progress ? "progress" : "update";
                await stream.WriteAsync(EventId(changed), name, text, stop.Token);
                (status, sent) = (changed, text);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or RedisException or TimeoutException or IOException)
        {
            // The client left, this replica stops, or Redis is away: the stream ends; a client reconnects and reads
            // the current state first.
        }
        return Results.Empty;
    }

    public static async Task<IResult> StreamClusterEvents(HttpContext context, EventHub events, WorkTypes types,
        HttpWorkerTypes httpTypes, IHostApplicationLifetime lifetime)
    {
        var typeFilter = ReadList(context.Request.Query["type"]);
        if (typeFilter?.FirstOrDefault(t => !EventTypes.Contains(t)) is { } unknown)
        {
            return Problems.Create(StatusCodes.Status400BadRequest, "Unknown event type",
                $"There is no event type '{unknown}'. Event types: {string.Join(", ", EventTypes.Order(StringComparer.Ordinal))}.");
        }
        var kindFilter = ReadList(context.Request.Query["kind"]);
        if (kindFilter?.FirstOrDefault(k => !types.Contains(k)) is not null)
        {
            // Types only HTTP workers serve are asked for only when the filter names a type no .NET handler serves.
            var served = await httpTypes.GetAsync();
            if (kindFilter.FirstOrDefault(k => !types.Contains(k) && !served.Contains(k)) is { } unknownKind)
            {
                var known = HttpWorkerTypes.Known(types, served);
                return Problems.Create(StatusCodes.Status400BadRequest, "Unknown work type",
                    $"There is no work type '{unknownKind}' to filter by ('kind'). Known work types: {string.Join(", ", known)}.");
            }
        }

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, lifetime.ApplicationStopping);
        using var subscription = await events.WatchAllAsync(new EventFilter(typeFilter, kindFilter), stop.Token);
        try
        {
            var stream = await SseStream.StartAsync(context);
            while (true)
            {
                using var wait = CancellationTokenSource.CreateLinkedTokenSource(stop.Token);
                wait.CancelAfter(KeepAlive);
                StreamedEvent next;
                try
                {
                    next = await subscription.Reader.ReadAsync(wait.Token);
                }
                catch (OperationCanceledException) when (!stop.IsCancellationRequested)
                {
                    await stream.CommentAsync("keep-alive", stop.Token);
                    continue;
                }
                if (subscription.TakeDropped() is > 0 and var dropped)
                {
                    await stream.WriteAsync(null, "gap", $$"""{"type":"gap","dropped":{{dropped}}}""", stop.Token);
                }
                await stream.WriteAsync(null, next.Type, next.Json, stop.Token);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException)
        {
        }
        return Results.Empty;
    }

    /// <summary>A comma-separated (or repeated) query parameter as a set; null if absent.</summary>
    private static HashSet<string>? ReadList(Microsoft.Extensions.Primitives.StringValues values)
    {
        if (values.Count == 0)
        {
            return null;
        }
        var set = new HashSet<string>(StringComparer.Ordinal);
        foreach (var value in values)
        {
            foreach (var item in (value ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                set.Add(item);
            }
        }
        return set.Count == 0 ? null : set;
    }

    /// <summary>An event's id: where the job stands (attempt, status, last progress). The stream always starts from the current state.</summary>
    private static string EventId(WorkStatus status) =>
        $"{status.Attempts}.{(int)status.Status}.{status.Progress?.At.ToUnixTimeMilliseconds() ?? 0}";

    /// <summary>Writes server-sent events: unbuffered, each flushed as it is written.</summary>
    private sealed class SseStream(HttpResponse response)
    {
        public static async Task<SseStream> StartAsync(HttpContext context)
        {
            context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
            var response = context.Response;
            response.StatusCode = StatusCodes.Status200OK;
            response.ContentType = "text/event-stream; charset=utf-8";
            response.Headers.CacheControl = "no-cache";
            response.Headers["X-Accel-Buffering"] = "no";
            var stream = new SseStream(response);
            // How long a client waits before it reconnects, should the stream break.
            await stream.WriteRawAsync("retry: 1000\n\n", context.RequestAborted);
            return stream;
        }

        /// <summary>One event; <paramref name="data"/> is one line of JSON.</summary>
        public Task WriteAsync(string? id, string name, string data, CancellationToken cancellationToken)
        {
            var text = new StringBuilder();
            if (id is not null)
            {
                text.Append("id: ").Append(id).Append('\n');
            }
            text.Append("event: ").Append(name).Append('\n').Append("data: ").Append(data).Append("\n\n");
            return WriteRawAsync(text.ToString(), cancellationToken);
        }

        public Task CommentAsync(string text, CancellationToken cancellationToken) => WriteRawAsync($": {text}\n\n", cancellationToken);

        private async Task WriteRawAsync(string text, CancellationToken cancellationToken)
        {
            await response.WriteAsync(text, cancellationToken);
            await response.Body.FlushAsync(cancellationToken);
        }
    }
}
