using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using WorkCluster.Api.Events;
using WorkCluster.Api.Security;
using WorkCluster.Cluster;
using WorkCluster.Handlers;
using WorkCluster.Queue;

namespace WorkCluster.Api.Apis;

/// <summary>
/// The HTTP worker protocol, for workers in any language: <c>/api/v1/leases</c>. A worker long-polls for jobs of its
/// types, each under a lease (a fencing token), and renews, reports progress on, completes, fails or releases it by
/// its token. A stale token (the lease lapsed and the job went back, or the job moved on) is refused with 409 and
/// changes nothing. Workers that lease are registered in the cluster registry (protocol <c>http</c>, not mesh members)
/// for as long as they keep calling.
/// </summary>
public static partial class LeasesApi
{
    public const string BasePath = "/api/v1/leases";
    public const int MaxJobsPerLease = 100;
    public const int MaxTypes = 32;
    public const int MaxNameLength = 100;
    public const int MaxLeaseBodyBytes = 16 * 1024;

    /// <summary>The events after which a job may be ready in the HTTP workers' queue: a waiting lease call tries again.</summary>
    private static readonly IReadOnlySet<string> ReadyEvents =
        new HashSet<string>(["accepted", "pending", "released", "retried", "requeued"], StringComparer.Ordinal);

    public static RouteGroupBuilder MapLeasesApiV1(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup(BasePath).WithTags("Workers (HTTP lease protocol)");

        api.MapPost("/", Lease)
            .WithName("LeaseWork")
            .WithSummary("Lease jobs of the given types: answers the jobs leased, waiting up to 'wait' seconds for one; 204 when none came.")
            .WithDescription("""Body: {"types": ["py.wordcount"], "max": 8, "wait": 20, "worker": {"id": "py-1", "language": "python", "version": "1.0"}}. """ +
                "Each job comes with its lease_token and lease_expires_at: renew the lease before it ends (every third of it), and end it " +
                "with complete, fail or release. The call registers the worker in the cluster (GET /api/v1/cluster) while it keeps calling. " +
                "Types served by the .NET workers cannot be leased.")
            .Produces<LeaseGrant>()
            .Produces(StatusCodes.Status204NoContent)
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable)
            .RequireScope(ApiScopes.Worker);

        api.MapPost("/{token}/renew", Renew)
            .WithName("RenewLease")
            .WithSummary("Extend a lease by one lease TTL; says whether the job's cancellation was requested (then stop, and complete, fail or release it).")
            .Produces<LeaseRenewed>()
            .ProducesProblem(StatusCodes.Status409Conflict)
            .RequireScope(ApiScopes.Worker);

        api.MapPost("/{token}/progress", Progress)
            .WithName("ReportLeaseProgress")
            .WithSummary("""Report how far the job has come: {"percent": 40, "message": "..."} (shown with the job, and as a progress event).""")
            .Produces(StatusCodes.Status204NoContent)
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .RequireScope(ApiScopes.Worker);

        api.MapPost("/{token}/complete", Complete)
            .WithName("CompleteLease")
            .WithSummary("""The job is worked: {"result": any JSON}. Answers the job's status (worked, or cancelled if its cancellation was requested).""")
            .Produces<LeaseEnded>()
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .RequireScope(ApiScopes.Worker);

        api.MapPost("/{token}/fail", Fail)
            .WithName("FailLease")
            .WithSummary("""The attempt failed: {"error": "...", "retry": false}. Retried after a backoff while attempts are left, unless retry is false.""")
            .Produces<LeaseEnded>()
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .RequireScope(ApiScopes.Worker);

        api.MapPost("/{token}/release", Release)
            .WithName("ReleaseLease")
            .WithSummary("Hand the job back unfinished (the worker is stopping): it goes back to its place in the queue, the attempt not counted.")
            .Produces<LeaseEnded>()
            .ProducesProblem(StatusCodes.Status409Conflict)
            .RequireScope(ApiScopes.Worker);

        return api;
    }

    /// <summary>The dependencies of the lease endpoints.</summary>
    public sealed class LeaseServices(WorkQueue queue, WorkTypes types, ClusterRegistry registry, EventHub events,
        IOptions<QueueOptions> queueOptions, IOptions<ClusterOptions> clusterOptions, IOptions<WorkApiOptions> options, TimeProvider time,
        IHostApplicationLifetime lifetime)
    {
        public IHostApplicationLifetime Lifetime { get; } = lifetime;
        public WorkQueue Queue { get; } = queue;
        public WorkTypes Types { get; } = types;
        public ClusterRegistry Registry { get; } = registry;
        public EventHub Events { get; } = events;
        public IOptions<QueueOptions> QueueOptions { get; } = queueOptions;
        public IOptions<WorkApiOptions> Options { get; } = options;
        public TimeProvider Time { get; } = time;

        /// <summary>
        /// How long an HTTP worker stays registered after its last call: a heartbeat TTL, or a lease TTL if longer (a
        /// busy worker calls only to renew, every third of a lease).
        /// </summary>
        public TimeSpan RegistrationTtl() => ClusterOptions.Value.HeartbeatTtl > QueueOptions.Value.LeaseTtl
            ? ClusterOptions.Value.HeartbeatTtl : QueueOptions.Value.LeaseTtl;

        public IOptions<ClusterOptions> ClusterOptions { get; } = clusterOptions;
    }

    public static async Task<Results<Ok<LeaseGrant>, NoContent, ProblemHttpResult>> Lease(HttpContext context, [AsParameters] LeaseServices services)
    {
        var (document, _, bodyProblem) = await WorkRequestReader.ReadJsonObjectAsync(context, MaxLeaseBodyBytes, "the lease request's limit");
        if (document is null)
        {
            return bodyProblem!;
        }
        LeaseRequest request;
        using (document)
        {
            var (read, problem) = ReadLeaseRequest(document.RootElement, services);
            if (read is null)
            {
                return problem!;
            }
            request = read;
        }

        var worker = new NodeInfo
        {
            Id = request.WorkerId,
            Host = context.Connection.RemoteIpAddress?.ToString() ?? "",
            StartedAt = request.StartedAt ?? services.Time.GetUtcNow(),
            HeartbeatAt = services.Time.GetUtcNow(),
            Version = request.Version,
            Language = request.Language,
            WorkTypes = request.Types,
            InFlight = request.InFlight,
            Processed = request.Processed,
            Pid = request.Pid,
        };
        // Registered (or refreshed) now, and again every third of its TTL while the call waits. Membership is not
        // needed to lease: while the registry's store is away (it may be a Redis of its own), leasing goes on.
        async Task<bool?> RegisterAsync()
        {
            try
            {
                return await services.Registry.RegisterHttpWorkerAsync(worker with { HeartbeatAt = services.Time.GetUtcNow() },
                    services.RegistrationTtl());
            }
            catch (Exception e) when (e is StackExchange.Redis.RedisException or TimeoutException)
            {
                return false;
            }
        }
        if (await RegisterAsync() is null)
        {
            return Problems.Create(StatusCodes.Status409Conflict, "Worker id taken",
                $"'{request.WorkerId}' is a live member of the cluster's mesh; an HTTP worker needs an id of its own.");
        }

        // A waiting call ends (204) when its client goes or the replica stops: a stopping replica is not held up.
        using var ending = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, services.Lifetime.ApplicationStopping);
        var aborted = ending.Token;
        var deadline = services.Time.GetUtcNow() + TimeSpan.FromSeconds(request.WaitSeconds);
        // Listening first, then looking: a job that becomes ready after the look wakes the wait below.
        using var stream = request.WaitSeconds > 0
            ? await services.Events.WatchAllAsync(new EventFilter(ReadyEvents, request.Types.ToHashSet(StringComparer.Ordinal)), aborted)
            : null;
        var refreshEvery = services.RegistrationTtl() / 3;
        var refreshAt = services.Time.GetUtcNow() + refreshEvery;
        while (true)
        {
            var batch = await services.Queue.LeaseAsync(request.WorkerId, request.Types, request.Max);
            if (batch.Jobs.Count > 0)
            {
                var ttlMs = (long)services.QueueOptions.Value.LeaseTtl.TotalMilliseconds;
                return TypedResults.Ok(new LeaseGrant([.. batch.Jobs.Select(j => LeasedJob.From(j, request.WorkerId, batch.ExpiresAt, ttlMs))]));
            }
            // Nothing yet: wait for a job of these types to become ready (an event), keeping the worker registered.
            var woken = false;
            while (!woken)
            {
                var now = services.Time.GetUtcNow();
                if (stream is null || now >= deadline || aborted.IsCancellationRequested)
                {
                    return TypedResults.NoContent();
                }
                if (now >= refreshAt)
                {
                    await RegisterAsync();
                    refreshAt = now + refreshEvery;
                }
                var until = deadline < refreshAt ? deadline : refreshAt;
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(aborted);
                timeout.CancelAfter(until - now);
                try
                {
                    if (!await stream.Reader.WaitToReadAsync(timeout.Token))
                    {
                        return TypedResults.NoContent(); // the replica is stopping
                    }
                    while (stream.Reader.TryRead(out _))
                    {
                    }
                    woken = true;
                }
                catch (OperationCanceledException)
                {
                }
            }
        }
    }

    public static async Task<Results<Ok<LeaseRenewed>, ProblemHttpResult>> Renew(string token, [AsParameters] LeaseServices services)
    {
        if (ParseToken(token) is not { } parsed)
        {
            return LeaseLost(token);
        }
        var renewal = await services.Queue.RenewAsync([parsed.Lease]);
        if (renewal.Lost.Count > 0 || renewal.Overdue.Count > 0)
        {
            return LeaseLost(token);
        }
        try
        {
            await services.Registry.TouchAsync(parsed.WorkerId, services.RegistrationTtl());
        }
        catch (Exception e) when (e is StackExchange.Redis.RedisException or TimeoutException)
        {
            // The lease is renewed; membership catches up at the worker's next lease call.
        }
        var ttl = services.QueueOptions.Value.LeaseTtl;
        return TypedResults.Ok(new LeaseRenewed(services.Time.GetUtcNow() + ttl, (long)ttl.TotalMilliseconds, renewal.CancelRequested.Count > 0));
    }

    public static async Task<Results<NoContent, ProblemHttpResult>> Progress(string token, HttpContext context, [AsParameters] LeaseServices services)
    {
        if (ParseToken(token) is not { } parsed)
        {
            return LeaseLost(token);
        }
        var (document, _, bodyProblem) = await WorkRequestReader.ReadJsonObjectAsync(context, MaxLeaseBodyBytes, "the progress report's limit");
        if (document is null)
        {
            return bodyProblem!;
        }
        double? percent = null;
        string? message = null;
        using (document)
        {
            var root = document.RootElement;
            if (root.TryGetProperty("percent", out var p) && p.ValueKind != JsonValueKind.Null)
            {
                if (p.ValueKind != JsonValueKind.Number || !p.TryGetDouble(out var value) || value is < 0 or > 100)
                {
                    return Problems.Create(StatusCodes.Status400BadRequest, "Invalid 'percent'", "'percent' must be a number from 0 to 100.");
                }
                percent = value;
            }
            if (root.TryGetProperty("message", out var m) && m.ValueKind != JsonValueKind.Null)
            {
                if (m.ValueKind != JsonValueKind.String)
                {
                    return Problems.Create(StatusCodes.Status400BadRequest, "Invalid 'message'", "'message' must be a string.");
                }
                message = m.GetString();
            }
        }
        if (percent is null && message is null)
        {
            return Problems.Create(StatusCodes.Status400BadRequest, "Empty progress report", "Give 'percent' (0-100), 'message', or both.");
        }
        return await services.Queue.ReportProgressAsync(parsed.Lease, percent, message) ? TypedResults.NoContent() : LeaseLost(token);
    }

    public static async Task<Results<Ok<LeaseEnded>, ProblemHttpResult>> Complete(string token, HttpContext context, [AsParameters] LeaseServices services)
    {
        if (ParseToken(token) is not { } parsed)
        {
            return LeaseLost(token);
        }
        var (document, _, bodyProblem) = await WorkRequestReader.ReadJsonObjectAsync(context, services.Options.Value.MaxPayloadBytes, "Work:MaxPayloadBytes");
        if (document is null)
        {
            return bodyProblem!;
        }
        string result;
        using (document)
        {
            if (!document.RootElement.TryGetProperty("result", out var element))
            {
                return Problems.Create(StatusCodes.Status400BadRequest, "Missing 'result'",
                    """The body must have a 'result' member holding the job's result (any JSON value), e.g. {"result": {"words": 3}}.""");
            }
            result = element.GetRawText();
        }
        return await services.Queue.CompleteAsync(parsed.Lease, result) switch
        {
            QueueOutcome.Worked => TypedResults.Ok(new LeaseEnded(parsed.Lease.JobId, "worked")),
            QueueOutcome.Cancelled => TypedResults.Ok(new LeaseEnded(parsed.Lease.JobId, "cancelled")),
            QueueOutcome.ResultTooLarge => TypedResults.Ok(new LeaseEnded(parsed.Lease.JobId, "failed")),
            _ => LeaseLost(token),
        };
    }

    public static async Task<Results<Ok<LeaseEnded>, ProblemHttpResult>> Fail(string token, HttpContext context, [AsParameters] LeaseServices services)
    {
        if (ParseToken(token) is not { } parsed)
        {
            return LeaseLost(token);
        }
        var (document, _, bodyProblem) = await WorkRequestReader.ReadJsonObjectAsync(context, MaxLeaseBodyBytes, "the failure report's limit");
        if (document is null)
        {
            return bodyProblem!;
        }
        string error;
        var retry = true;
        using (document)
        {
            var root = document.RootElement;
            if (!root.TryGetProperty("error", out var e) || e.ValueKind != JsonValueKind.String || e.GetString() is not { Length: > 0 } text)
            {
                return Problems.Create(StatusCodes.Status400BadRequest, "Missing 'error'", "The body must have an 'error' member: a non-empty string saying what went wrong.");
            }
            error = text;
            if (root.TryGetProperty("retry", out var r) && r.ValueKind != JsonValueKind.Null)
            {
                if (r.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
                {
                    return Problems.Create(StatusCodes.Status400BadRequest, "Invalid 'retry'", "'retry' must be true or false.");
                }
                retry = r.GetBoolean();
            }
        }
        // The attempt's number sets its backoff; the record is read once (failures are the rare path).
        var job = await services.Queue.GetAsync(parsed.Lease.JobId);
        if (job?.Record.Lease != parsed.Lease.Token)
        {
            return LeaseLost(token);
        }
        return await services.Queue.FailAsync(parsed.Lease, job.Record.Attempts, error, job.Record.Type, retry) switch
        {
            QueueOutcome.RetryScheduled => TypedResults.Ok(new LeaseEnded(parsed.Lease.JobId, "retry_scheduled")),
            QueueOutcome.DeadLettered => TypedResults.Ok(new LeaseEnded(parsed.Lease.JobId, "failed")),
            QueueOutcome.Cancelled => TypedResults.Ok(new LeaseEnded(parsed.Lease.JobId, "cancelled")),
            _ => LeaseLost(token),
        };
    }

    public static async Task<Results<Ok<LeaseEnded>, ProblemHttpResult>> Release(string token, [AsParameters] LeaseServices services)
    {
        if (ParseToken(token) is not { } parsed)
        {
            return LeaseLost(token);
        }
        return await services.Queue.ReleaseAsync(parsed.Lease) switch
        {
            QueueOutcome.Released => TypedResults.Ok(new LeaseEnded(parsed.Lease.JobId, "pending")),
            QueueOutcome.Cancelled => TypedResults.Ok(new LeaseEnded(parsed.Lease.JobId, "cancelled")),
            _ => LeaseLost(token),
        };
    }

    private static ProblemHttpResult LeaseLost(string token) =>
        Problems.Create(StatusCodes.Status409Conflict, "Lease lost",
            "This lease is not held: it lapsed and its job went back to the queue (or to another worker), or the job has ended, " +
            "or its attempt has run past its timeout and grace (Work:Timeout, Work:TimeoutGrace) and is renewed no more. " +
            "Stop working on it; nothing was changed.", new() { ["lease_token"] = token });

    /// <summary>A lease token: the job's id, the attempt's fencing token and the worker's id, joined by dots.</summary>
    public static string TokenOf(JobLease lease, string workerId) => $"{lease.JobId}.{lease.Token}.{workerId}";

    private static (JobLease Lease, string WorkerId)? ParseToken(string token)
    {
        var parts = token.Split('.', 3);
        return parts.Length == 3 && JobId.IsWellFormed(parts[0]) && parts[1].Length is > 0 and <= 64 && IsWorkerId(parts[2])
            ? (new JobLease(parts[0], parts[1]), parts[2])
            : null;
    }

    /// <summary>1 to 100 letters, digits, '.', '_', ':' or '-'.</summary>
    private static bool IsWorkerId(string id) =>
        id.Length is > 0 and <= MaxNameLength && id.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or ':' or '-');

    private sealed record LeaseRequest(IReadOnlyList<string> Types, int Max, int WaitSeconds, string WorkerId, string? Language, string? Version,
        DateTimeOffset? StartedAt, int InFlight, long Processed, int Pid);

    private static (LeaseRequest? Request, ProblemHttpResult? Problem) ReadLeaseRequest(JsonElement root, LeaseServices services)
    {
        static ProblemHttpResult Bad(string title, string detail) => Problems.Create(StatusCodes.Status400BadRequest, title, detail);

        if (!root.TryGetProperty("types", out var typesElement) || typesElement.ValueKind != JsonValueKind.Array
            || typesElement.GetArrayLength() is 0 or > MaxTypes)
        {
            return (null, Bad("Missing 'types'", $"'types' must be an array of 1 to {MaxTypes} work type names, e.g. [\"py.wordcount\"]."));
        }
        var types = new List<string>();
        foreach (var t in typesElement.EnumerateArray())
        {
            if (t.ValueKind != JsonValueKind.String || t.GetString() is not { Length: > 0 and <= MaxNameLength } name)
            {
                return (null, Bad("Invalid 'types'", $"Each work type must be a string of 1 to {MaxNameLength} characters."));
            }
            if (services.Types.Contains(name))
            {
                return (null, Bad("A .NET work type", $"'{name}' is served by the .NET workers; HTTP workers serve types of their own."));
            }
            if (!types.Contains(name))
            {
                types.Add(name);
            }
        }

        var max = 1;
        if (root.TryGetProperty("max", out var maxElement) && maxElement.ValueKind != JsonValueKind.Null
            && (maxElement.ValueKind != JsonValueKind.Number || !maxElement.TryGetInt32(out max) || max is < 1 or > MaxJobsPerLease))
        {
            return (null, Bad("Invalid 'max'", $"'max' must be a whole number from 1 to {MaxJobsPerLease}."));
        }
        var wait = 0;
        var mostWait = services.Options.Value.MaxWaitSeconds;
        if (root.TryGetProperty("wait", out var waitElement) && waitElement.ValueKind != JsonValueKind.Null
            && (waitElement.ValueKind != JsonValueKind.Number || !waitElement.TryGetInt32(out wait) || wait < 0 || wait > mostWait))
        {
            return (null, Bad("Invalid 'wait'", $"'wait' must be a whole number of seconds from 0 to {mostWait} (Work:MaxWaitSeconds)."));
        }

        if (!root.TryGetProperty("worker", out var worker) || worker.ValueKind != JsonValueKind.Object
            || !worker.TryGetProperty("id", out var idElement) || idElement.ValueKind != JsonValueKind.String || !IsWorkerId(idElement.GetString()!))
        {
            return (null, Bad("Missing 'worker'", $"'worker' must be an object with an 'id' of 1 to {MaxNameLength} letters, digits, '.', '_', ':' or '-', " +
                "unique to the worker process, e.g. {\"id\": \"py-1\", \"language\": \"python\", \"version\": \"1.0\"}."));
        }
        string? Text(string name) =>
            worker.TryGetProperty(name, out var e) && e.ValueKind == JsonValueKind.String && e.GetString() is { Length: > 0 and <= MaxNameLength } s
                && s.All(c => !char.IsControl(c)) ? s : null;
        long Number(string name) =>
            worker.TryGetProperty(name, out var e) && e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out var n) && n >= 0 ? n : 0;
        DateTimeOffset? startedAt = worker.TryGetProperty("started_at", out var started) && started.ValueKind == JsonValueKind.String
            && started.TryGetDateTimeOffset(out var at) ? at : null;
        return (new LeaseRequest(types, max, wait, idElement.GetString()!, Text("language"), Text("version"), startedAt,
            (int)Math.Min(Number("in_flight"), int.MaxValue), Number("processed"), (int)Math.Min(Number("pid"), int.MaxValue)), null);
    }
}

/// <summary>The jobs a lease call got.</summary>
public sealed record LeaseGrant([property: JsonPropertyName("jobs")] IReadOnlyList<LeasedJob> Jobs);

/// <summary>A leased job: what to do, and the lease to do it under.</summary>
public sealed record LeasedJob(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("type")] string Type,
    [property: JsonPropertyName("data")] JsonElement Data,
    [property: JsonPropertyName("attempt")] int Attempt,
    [property: JsonPropertyName("lease_token")] string LeaseToken,
    [property: JsonPropertyName("lease_expires_at")] DateTimeOffset LeaseExpiresAt,
    [property: JsonPropertyName("lease_ttl_ms")] long LeaseTtlMs)
{
    public static LeasedJob From(ClaimedJob job, string workerId, DateTimeOffset expiresAt, long ttlMs)
    {
        using var data = JsonDocument.Parse(job.Data);
        return new LeasedJob(job.Lease.JobId, job.Record.Type, data.RootElement.Clone(), job.Record.Attempts,
            LeasesApi.TokenOf(job.Lease, workerId), expiresAt, ttlMs);
    }
}

/// <summary>
/// A renewed lease: when it ends now (by the API's clock; <c>lease_ttl_ms</c> from now, which a worker should count on
/// its own monotonic clock), and whether the job's cancellation was requested.
/// </summary>
public sealed record LeaseRenewed(
    [property: JsonPropertyName("lease_expires_at")] DateTimeOffset LeaseExpiresAt,
    [property: JsonPropertyName("lease_ttl_ms")] long LeaseTtlMs,
    [property: JsonPropertyName("cancel_requested")] bool CancelRequested);

/// <summary>How a lease ended: the job's status now (worked, retry_scheduled, failed, cancelled, or pending once released).</summary>
public sealed record LeaseEnded(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("status")] string Status);
