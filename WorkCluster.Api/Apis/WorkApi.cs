using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.Extensions.Options;
using Microsoft.OpenApi;
using WorkCluster.Cluster.Mesh;
using WorkCluster.Handlers;
using WorkCluster.Queue;
using WorkCluster.Api.Events;
using WorkCluster.Api.Security;

namespace WorkCluster.Api.Apis;

/// <summary>Submitting work, reading its status, the dead letter: <c>/api/v1/work</c>.</summary>
public static partial class WorkApi
{
    public const string BasePath = "/api/v1/work";
    public const string IdempotencyKeyHeader = "Idempotency-Key";
    public const int MaxIdempotencyKeyLength = 255;
    public const int QueueFullRetryAfterSeconds = 5;
    public const int DefaultPageSize = 50;
    public const int MaxPageSize = 500;

    public static RouteGroupBuilder MapWorkApiV1(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup(BasePath).WithTags("Work");

        api.MapPost("/", SubmitWork)
            .WithName("SubmitWork")
            .WithSummary("Queue work; answers at once with the id to poll.")
            .WithDescription("With an Idempotency-Key header, repeating the same request returns the first answer and queues nothing. " +
                "'priority' (0-9, default 5) orders the queue; 'delay_ms' or 'run_at' (RFC 3339) schedules the work for later.")
            // Documented, not enforced by routing: the handler reads the body itself and answers 415 with a problem.
            .AddOpenApiOperationTransformer(DescribeWorkRequestBody)
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity)
            .ProducesProblem(StatusCodes.Status429TooManyRequests)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable)
            .RequireScope(ApiScopes.Submit);

        api.MapGet("/", ListWork)
            .WithName("ListWork")
            .WithSummary("Failed work (the dead letter, status=failed) or cancelled work (status=cancelled), newest first, paged with offset and limit.")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable)
            .RequireScope(ApiScopes.Admin);

        api.MapGet("/{id}", GetWork)
            .WithName("GetWork")
            .WithSummary("A job's status (scheduled, pending, working, worked, failed, cancelled) and, once worked, its result.")
            .WithDescription("With ?wait=N (seconds, at most Work:MaxWaitSeconds) the answer waits until the job has finished " +
                "(worked, failed, cancelled) or N seconds have passed, then tells the status as it is. A key with the 'submit' " +
                "scope alone sees only the work it submitted (any other id is 404); 'read' and 'admin' see all work.")
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable)
            .RequireScope(ApiScopes.Read, ApiScopes.Submit, ApiScopes.Admin);

        api.MapDelete("/{id}", CancelWork)
            .WithName("CancelWork")
            .WithSummary("Cancel work: waiting work is cancelled at once and never starts; running work's worker is told to stop it.")
            .WithDescription("A key with the 'submit' scope cancels the work it submitted; 'admin' cancels any work.")
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable)
            .RequireScope(ApiScopes.Submit, ApiScopes.Admin);

        api.MapPost("/{id}/retry", RetryWork)
            .WithName("RetryWork")
            .WithSummary("Send failed work back to the queue, its attempts reset.")
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status429TooManyRequests)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable)
            .RequireScope(ApiScopes.Admin);

        return api;
    }

    /// <summary>The dependencies of the work endpoints.</summary>
    public sealed class WorkServices(WorkQueue queue, WorkTypes types, ApiInstance instance, IOptions<WorkApiOptions> options,
        IOptions<QueueOptions> queueOptions, ILogger<WorkServices> logger, IMesh mesh, EventHub events, CallbackPolicy callbacks,
        IHostApplicationLifetime lifetime, HttpWorkerTypes httpTypes)
    {
        public EventHub Events { get; } = events;
        public HttpWorkerTypes HttpTypes { get; } = httpTypes;
        public CallbackPolicy Callbacks { get; } = callbacks;
        public IHostApplicationLifetime Lifetime { get; } = lifetime;
        public IMesh Mesh { get; } = mesh;
        public IOptions<QueueOptions> QueueOptions { get; } = queueOptions;
        public ILogger<WorkServices> Logger { get; } = logger;
        public WorkQueue Queue { get; } = queue;
        public WorkTypes Types { get; } = types;
        public ApiInstance Instance { get; } = instance;
        public IOptions<WorkApiOptions> Options { get; } = options;
    }

    public static async Task<Results<Accepted<WorkAccepted>, ProblemHttpResult>> SubmitWork(
        HttpContext context, [AsParameters] WorkServices services)
    {
        string? idempotencyKey = null;
        if (context.Request.Headers.TryGetValue(IdempotencyKeyHeader, out var keyValues))
        {
            idempotencyKey = keyValues.Count == 1 ? keyValues[0] : null;
            if (!IsValidIdempotencyKey(idempotencyKey))
            {
                return Problem(StatusCodes.Status400BadRequest, "Invalid Idempotency-Key",
                    $"The Idempotency-Key header must appear once and hold 1 to {MaxIdempotencyKeyLength} visible ASCII characters.");
            }
        }

        var (work, problem) = await WorkRequestReader.ReadAsync(context, services.Types, services.Options.Value.MaxPayloadBytes,
            queue: services.QueueOptions.Value, callbacks: services.Callbacks, httpTypes: services.HttpTypes.GetAsync);
        if (work is null)
        {
            return problem!;
        }

        var fingerprint = idempotencyKey is null ? null : Convert.ToHexStringLower(SHA256.HashData(work.Body.Span));
        var result = await services.Queue.EnqueueAsync(work.Type, work.Data, services.Instance.Name, work.Options with
        {
            IdempotencyKey = idempotencyKey is null ? null : WorkAccess.ScopedIdempotencyKey(context, idempotencyKey),
            Fingerprint = fingerprint,
            Owner = WorkAccess.Owner(context.User),
        });

        switch (result.Outcome)
        {
            case QueueOutcome.TooFarAhead:
                return WorkRequestReader.TooFarAhead(services.QueueOptions.Value);
            case QueueOutcome.QueueFull or QueueOutcome.QueueBytesFull:
                return QueueFull(context, result.Outcome == QueueOutcome.QueueFull
                    ? "The queue holds its limit of unfinished jobs (Work:MaxQueueLength); nothing was queued."
                    : "The unfinished jobs' data would pass the queue's limit (Work:MaxQueueBytes); nothing was queued.");
            case QueueOutcome.KeyConflict:
                return Problem(StatusCodes.Status422UnprocessableEntity, "Idempotency-Key reused with a different request",
                    $"This Idempotency-Key was first used with a different request (job {result.Id}); nothing was queued. " +
                    "Use a new key for new work.");
            case QueueOutcome.Replayed:
                context.Response.Headers["Idempotent-Replayed"] = "true";
                LogReplayed(services.Logger, result.Id!);
                break;
            default:
                LogAccepted(services.Logger, result.Id!, work.Type);
                break;
        }
        return TypedResults.Accepted($"{BasePath}/{result.Id}", new WorkAccepted("accepted", result.AcceptedBy!, result.Id!, result.TraceId));
    }

    public static async Task<Results<Ok<WorkStatus>, ProblemHttpResult>> GetWork(string id, string? wait, HttpContext context,
        [AsParameters] WorkServices services)
    {
        var maxWait = services.Options.Value.MaxWaitSeconds;
        if (!TryParseBounded(wait, 0, 0, maxWait, out var waitSeconds))
        {
            return Problem(StatusCodes.Status400BadRequest, "Invalid 'wait'",
                $"'wait' must be a whole number of seconds from 0 to {maxWait} (Work:MaxWaitSeconds).");
        }
        // An id of impossible shape cannot exist: no need to ask Redis.
        if (!JobId.IsWellFormed(id))
        {
            return NoSuchWork(id);
        }
        if (waitSeconds == 0)
        {
            return await services.Queue.GetAsync(id) is { } job && WorkAccess.CanRead(context.User, job.Owner)
                ? TypedResults.Ok(WorkStatus.From(job))
                : NoSuchWork(id);
        }

        // Listening first, reading next: a change after the read cannot be missed.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, services.Lifetime.ApplicationStopping);
        using var watch = await services.Events.WatchJobAsync(id, stop.Token);
        var deadline = TimeSpan.FromSeconds(waitSeconds);
        var waited = System.Diagnostics.Stopwatch.StartNew();
        var first = await services.Queue.GetAsync(id);
        if (first is null || !WorkAccess.CanRead(context.User, first.Owner))
        {
            return NoSuchWork(id);
        }
        var status = WorkStatus.From(first);
        var current = true; // whether status was read after the last signal
        while (status is { IsFinal: false } && waited.Elapsed < deadline)
        {
            EventSignal? signal;
            try
            {
                signal = await watch.NextAsync(deadline - waited.Elapsed, stop.Token);
            }
            catch (OperationCanceledException)
            {
                break; // the client left, or this replica stops: answer what is known now
            }
            if (signal is null)
            {
                break; // the wait is over
            }
            if (signal.MayBeFinal)
            {
                status = await services.Queue.GetAsync(id) is { } job ? WorkStatus.From(job) : null;
                current = true;
            }
            else
            {
                current = false; // it moved on (started, progress): read once more at the end, not at every step
            }
        }
        if (!current && status is { IsFinal: false })
        {
            status = await services.Queue.GetAsync(id) is { } job ? WorkStatus.From(job) : null;
        }
        return status is null ? NoSuchWork(id) : TypedResults.Ok(status);
    }

    public static async Task<Results<Ok<WorkPage>, ProblemHttpResult>> ListWork(
        string? status, string? offset, string? limit, [AsParameters] WorkServices services)
    {
        if (status is not ("failed" or "cancelled"))
        {
            return Problem(StatusCodes.Status400BadRequest, status is null ? "Missing 'status'" : "Only failed or cancelled work can be listed",
                "List the dead letter with ?status=failed, cancelled work with ?status=cancelled (and optionally &offset=0&limit=50).");
        }
        if (!TryParseBounded(offset, 0, 0, int.MaxValue, out var from))
        {
            return Problem(StatusCodes.Status400BadRequest, "Invalid 'offset'", "'offset' must be a whole number, 0 or more.");
        }
        if (!TryParseBounded(limit, DefaultPageSize, 1, MaxPageSize, out var size))
        {
            return Problem(StatusCodes.Status400BadRequest, "Invalid 'limit'", $"'limit' must be a whole number from 1 to {MaxPageSize}.");
        }

        var page = status == "failed" ? await services.Queue.GetFailedAsync(from, size) : await services.Queue.GetCancelledAsync(from, size);
        var next = from + size < page.Total ? $"{BasePath}?status={status}&offset={from + size}&limit={size}" : null;
        return TypedResults.Ok(new WorkPage(status, page.Total, from, size, page.Jobs.Select(WorkStatus.From).ToArray(), next));
    }

    public static async Task<Results<Accepted<WorkAccepted>, ProblemHttpResult>> RetryWork(string id, HttpContext context,
        [AsParameters] WorkServices services)
    {
        switch (await services.Queue.RetryFailedAsync(id))
        {
            case QueueOutcome.Queued:
                return TypedResults.Accepted($"{BasePath}/{id}", new WorkAccepted("accepted", services.Instance.Name, id, null));
            case QueueOutcome.QueueFull:
                return QueueFull(context, "The queue holds its limit of unfinished jobs or of their data (Work:MaxQueueLength, " +
                    "Work:MaxQueueBytes); the work stays failed.");
            case QueueOutcome.NotFailed:
                return Problem(StatusCodes.Status409Conflict, "Only failed work can be retried",
                    $"Work '{id}' has not failed; GET {BasePath}/{id} tells its status.");
            default:
                return NoSuchWork(id);
        }
    }

    /// <summary>How long the API waits for a worker to confirm over the mesh that it is stopping a cancelled job.</summary>
    private static readonly TimeSpan CancelNotifyTimeout = TimeSpan.FromSeconds(2);

    public static async Task<Results<Accepted<WorkCancellation>, ProblemHttpResult>> CancelWork(string id, HttpContext context,
        [AsParameters] WorkServices services)
    {
        if (!WorkAccess.Has(context.User, ApiScopes.Admin)
            && (!JobId.IsWellFormed(id) || await services.Queue.GetAsync(id) is not { } job || !WorkAccess.CanChange(context.User, job.Owner)))
        {
            return NoSuchWork(id); // another key's work is not told apart from work that does not exist
        }
        var cancel = await services.Queue.CancelAsync(id);
        switch (cancel.Outcome)
        {
            case QueueOutcome.Cancelled:
                LogCancelled(services.Logger, id);
                return TypedResults.Accepted($"{BasePath}/{id}", new WorkCancellation("cancelled", id));
            case QueueOutcome.Cancelling:
                // Redis holds the request: should the mesh not reach the worker, it finds it at its next lease renewal.
                var notified = false;
                if (cancel.Worker is { } worker && cancel.Lease is { } lease)
                {
                    try
                    {
                        // Delivered is enough: a worker that does not run the attempt yet (its claim's reply not
                        // handled) cancels it as it starts it.
                        await services.Mesh.RequestAsync<CancelJob, CancelJobReply>(worker, new CancelJob(id, lease.Token), CancelNotifyTimeout);
                        notified = true;
                    }
                    catch (Exception e) when (e is MeshUnreachableException or MeshRequestException or TimeoutException)
                    {
                        LogCancelNotSent(services.Logger, id, worker, e.Message);
                    }
                }
                return TypedResults.Accepted($"{BasePath}/{id}", new WorkCancellation("cancelling", id, cancel.Worker, notified));
            case QueueOutcome.AlreadyFinished:
                return Problem(StatusCodes.Status409Conflict, "Work already finished",
                    $"Work '{id}' is {cancel.FinishedStatus}: only scheduled, pending or working work can be cancelled.");
            default:
                return NoSuchWork(id);
        }
    }

    private static ProblemHttpResult QueueFull(HttpContext context, string detail)
    {
        context.Response.Headers.RetryAfter = QueueFullRetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
        return Problem(StatusCodes.Status429TooManyRequests, "The work queue is full", $"{detail} Retry in {QueueFullRetryAfterSeconds} s.");
    }

    internal static ProblemHttpResult NoSuchWork(string id) =>
        Problem(StatusCodes.Status404NotFound, "No such work",
            $"There is no work '{id}': the id is unknown, or its time to live has passed.");

    private static async Task DescribeWorkRequestBody(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        var schema = await context.GetOrCreateSchemaAsync(typeof(WorkRequest), null, cancellationToken);
        operation.RequestBody = new OpenApiRequestBody
        {
            Required = true,
            Description = "The work. Read as JSON whether sent as application/json, without a content type, or as application/x-www-form-urlencoded (curl -d).",
            Content = new Dictionary<string, OpenApiMediaType>
            {
                ["application/json"] = new() { Schema = schema },
                ["application/x-www-form-urlencoded"] = new() { Schema = schema },
            },
        };
    }

    private static bool IsValidIdempotencyKey(string? key) =>
        key is { Length: > 0 and <= MaxIdempotencyKeyLength } && key.All(c => c is >= '!' and <= '~');

    private static bool TryParseBounded(string? text, int fallback, int min, int max, out int value)
    {
        if (text is null)
        {
            value = fallback;
            return true;
        }
        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value) && value >= min && value <= max;
    }

    private static ProblemHttpResult Problem(int status, string title, string detail) => Problems.Create(status, title, detail);

    [LoggerMessage(LogLevel.Debug, "Job {JobId} ({WorkType}) accepted")]
    private static partial void LogAccepted(ILogger logger, string jobId, string workType);

    [LoggerMessage(LogLevel.Information, "Job {JobId} cancelled before it started")]
    private static partial void LogCancelled(ILogger logger, string jobId);

    [LoggerMessage(LogLevel.Warning, "Job {JobId}: could not tell {Worker} over the mesh to stop it ({Message}); it learns of the cancellation at its next lease renewal")]
    private static partial void LogCancelNotSent(ILogger logger, string jobId, string worker, string message);

    [LoggerMessage(LogLevel.Debug, "Job {JobId}: Idempotency-Key replayed, nothing queued")]
    private static partial void LogReplayed(ILogger logger, string jobId);
}
