using System.Buffers;
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text.Json;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;
using Microsoft.Extensions.Options;
using WorkCluster.Handlers;
using WorkCluster.Queue;

namespace WorkCluster.Api.Apis;

/// <summary>Submitting work and reading its status: <c>/api/v1/work</c>.</summary>
public static class WorkApi
{
    public const string BasePath = "/api/v1/work";

    public static RouteGroupBuilder MapWorkApiV1(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup(BasePath).WithTags("Work");

        api.MapPost("/", SubmitWork)
            .WithName("SubmitWork")
            .WithSummary("Queue work; answers at once with the id to poll.")
            // Documented, not enforced by routing: the handler reads the body itself and answers 415 with a problem.
            .AddOpenApiOperationTransformer(DescribeWorkRequestBody)
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);

        api.MapGet("/{id}", GetWork)
            .WithName("GetWork")
            .WithSummary("A job's status (pending, working, worked, failed) and, once worked, its result.")
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);

        return api;
    }

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

    /// <summary>The dependencies of the work endpoints.</summary>
    public sealed class WorkServices(WorkQueue queue, WorkTypes types, ApiInstance instance, IOptions<WorkApiOptions> options)
    {
        public WorkQueue Queue { get; } = queue;
        public WorkTypes Types { get; } = types;
        public ApiInstance Instance { get; } = instance;
        public IOptions<WorkApiOptions> Options { get; } = options;
    }

    public static async Task<Results<Accepted<WorkAccepted>, ProblemHttpResult>> SubmitWork(
        HttpContext context, [AsParameters] WorkServices services)
    {
        if (!IsJsonContentType(context.Request.ContentType))
        {
            return Problem(StatusCodes.Status415UnsupportedMediaType, "Unsupported content type",
                $"The body must be JSON, sent as application/json (or without a content type, or as " +
                $"application/x-www-form-urlencoded as curl -d does), not '{context.Request.ContentType}'.");
        }

        var maxBytes = services.Options.Value.MaxPayloadBytes;
        var body = await ReadBodyAsync(context, maxBytes);
        if (body is null)
        {
            return Problem(StatusCodes.Status413PayloadTooLarge, "Payload too large",
                $"The body is larger than the limit of {maxBytes} bytes (Work:MaxPayloadBytes).");
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body.Value);
        }
        catch (JsonException e)
        {
            return Problem(StatusCodes.Status400BadRequest, "Malformed JSON", $"The body is not valid JSON: {e.Message}");
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return Problem(StatusCodes.Status400BadRequest, "The body must be a JSON object",
                    """Send an object such as {"data": "foo", "type": "echo"}.""");
            }
            if (!root.TryGetProperty("data", out var data))
            {
                return Problem(StatusCodes.Status400BadRequest, "Missing 'data'",
                    """The body must have a 'data' member holding the work's input (any JSON value), e.g. {"data": "foo"}.""");
            }

            var type = services.Types.DefaultType;
            if (root.TryGetProperty("type", out var typeElement) && typeElement.ValueKind != JsonValueKind.Null)
            {
                if (typeElement.ValueKind != JsonValueKind.String)
                {
                    return Problem(StatusCodes.Status400BadRequest, "'type' must be a string",
                        $"Known work types: {string.Join(", ", services.Types.Names)}.",
                        new() { ["known_types"] = services.Types.Names });
                }
                type = typeElement.GetString()!;
                if (!services.Types.Contains(type))
                {
                    return Problem(StatusCodes.Status400BadRequest, "Unknown work type",
                        $"There is no work type '{type}'. Known work types: {string.Join(", ", services.Types.Names)}.",
                        new() { ["known_types"] = services.Types.Names });
                }
            }

            var id = await services.Queue.EnqueueAsync(type, data.GetRawText(), services.Instance.Name, Activity.Current?.Id);
            return TypedResults.Accepted($"{BasePath}/{id}", new WorkAccepted("accepted", services.Instance.Name, id));
        }
    }

    public static async Task<Results<Ok<WorkStatus>, ProblemHttpResult>> GetWork(string id, [AsParameters] WorkServices services)
    {
        // An id of impossible shape cannot exist: no need to ask Redis.
        var job = JobId.IsWellFormed(id) ? await services.Queue.GetAsync(id) : null;
        if (job is null)
        {
            return Problem(StatusCodes.Status404NotFound, "No such work",
                $"There is no work '{id}': the id is unknown, or its result's time to live has passed.");
        }
        return TypedResults.Ok(WorkStatus.From(job));
    }

    private static bool IsJsonContentType(string? contentType)
    {
        if (string.IsNullOrWhiteSpace(contentType))
        {
            return true;
        }
        if (!MediaTypeHeaderValue.TryParse(contentType, out var parsed) || parsed.MediaType is null)
        {
            return false;
        }
        var mediaType = parsed.MediaType;
        return mediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase)
            || mediaType.Equals("application/x-www-form-urlencoded", StringComparison.OrdinalIgnoreCase)
            || (mediaType.StartsWith("application/", StringComparison.OrdinalIgnoreCase)
                && mediaType.EndsWith("+json", StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>Reads the whole body, or returns null as soon as it is longer than <paramref name="maxBytes"/>.</summary>
    private static async Task<ReadOnlyMemory<byte>?> ReadBodyAsync(HttpContext context, int maxBytes)
    {
        if (context.Request.ContentLength > maxBytes)
        {
            return null;
        }
        // Our limit replaces the server's default one, which may be lower or higher.
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = maxBytes + 1L;
        }

        var buffer = new ArrayBufferWriter<byte>(context.Request.ContentLength is { } length ? (int)Math.Max(length, 1) : 4096);
        try
        {
            while (true)
            {
                var read = await context.Request.Body.ReadAsync(buffer.GetMemory(4096), context.RequestAborted);
                if (read == 0)
                {
                    return buffer.WrittenMemory;
                }
                buffer.Advance(read);
                if (buffer.WrittenCount > maxBytes)
                {
                    return null;
                }
            }
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return null; // the server's own limit (set just above ours) tripped first
        }
    }

    private static ProblemHttpResult Problem(int status, string title, string detail, Dictionary<string, object?>? extensions = null) =>
        TypedResults.Problem(statusCode: status, title: title, detail: detail, extensions: extensions);
}
