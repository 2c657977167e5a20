using System.Buffers;
using System.Net.Http.Headers;
using System.Text.Json;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;
using WorkCluster.Handlers;
using WorkCluster.Queue;
using WorkCluster.Webhooks;

namespace WorkCluster.Api.Apis;

/// <summary>
/// A request body that names work: its type, its data (JSON text), the raw body, an optional node, and how the queue is to
/// run it (priority, delay or time).
/// </summary>
public sealed record WorkSubmission(string Type, string Data, ReadOnlyMemory<byte> Body, string? Node, JobOptions Options);

/// <summary>
/// Reads and checks a body like <c>{"data": ..., "type": "..."}</c> the same way for every endpoint that takes one,
/// turning each mistake into the problem a client can act on.
/// </summary>
public static partial class WorkRequestReader
{
    /// <param name="context">The request.</param>
    /// <param name="types">The work types there are.</param>
    /// <param name="maxBytes">The largest body accepted.</param>
    /// <param name="allowNode">Whether the body may name a node (<c>node</c>).</param>
    /// <param name="queue">
    /// For a submission to the queue: its settings, and the body may say how to run the work (<c>priority</c>,
    /// <c>delay_ms</c> or <c>run_at</c>) and where to send its webhook (<c>callback_url</c>, checked by <paramref name="callbacks"/>).
    /// </param>
    /// <param name="callbacks">Which callback URLs are accepted; none without it.</param>
    /// <param name="httpTypes">
    /// For a submission to the queue: the types live workers of the HTTP lease protocol serve (asked only for a type
    /// no .NET handler serves). Work of such a type waits in their ready queue (<see cref="JobOptions.HttpLane"/>).
    /// </param>
    public static async Task<(WorkSubmission? Work, ProblemHttpResult? Problem)> ReadAsync(HttpContext context, WorkTypes types,
        int maxBytes, bool allowNode = false, QueueOptions? queue = null, CallbackPolicy? callbacks = null,
        Func<Task<IReadOnlySet<string>>>? httpTypes = null)
    {
        var (document, body, bodyProblem) = await ReadJsonObjectAsync(context, maxBytes, "Work:MaxPayloadBytes");
        if (document is null)
        {
            return (null, bodyProblem);
        }

        using (document)
        {
            var root = document.RootElement;
            if (!root.TryGetProperty("data", out var data))
            {
                return (null, Problems.Create(StatusCodes.Status400BadRequest, "Missing 'data'",
                    """The body must have a 'data' member holding the work's input (any JSON value), e.g. {"data": "foo"}."""));
            }

            var type = types.DefaultType;
            var httpLane = false;
            if (!root.TryGetProperty("type", out var typeElement) && type is null)
            {
                var known = HttpWorkerTypes.Known(types, httpTypes is null ? null : await httpTypes());
                return (null, Problems.Create(StatusCodes.Status400BadRequest, "Missing 'type'",
                    $"The body must name its work type in 'type' (this cluster has no default type). Known work types: {string.Join(", ", known)}.",
                    new() { ["known_types"] = known }));
            }
            if (typeElement.ValueKind != JsonValueKind.Undefined)
            {
                if (typeElement.ValueKind != JsonValueKind.String)
                {
                    return (null, Problems.Create(StatusCodes.Status400BadRequest, "'type' must be a string",
                        $"Known work types: {string.Join(", ", types.Names)}.", new() { ["known_types"] = types.Names }));
                }
                type = typeElement.GetString()!;
                if (!types.Contains(type))
                {
                    var served = httpTypes is null ? null : await httpTypes();
                    if (served?.Contains(type) == true)
                    {
                        httpLane = true;
                    }
                    else
                    {
                        var known = HttpWorkerTypes.Known(types, served);
                        return (null, Problems.Create(StatusCodes.Status400BadRequest, "Unknown work type",
                            $"There is no work type '{type}'. Known work types: {string.Join(", ", known)}.",
                            new() { ["known_types"] = known }));
                    }
                }
            }

            if (!httpLane && types.Validate(type!, data) is { } invalid)
            {
                return (null, Problems.Create(StatusCodes.Status400BadRequest, $"Invalid data for work type '{type}'", invalid));
            }

            string? node = null;
            if (allowNode && root.TryGetProperty("node", out var nodeElement) && nodeElement.ValueKind != JsonValueKind.Null)
            {
                if (nodeElement.ValueKind != JsonValueKind.String || nodeElement.GetString() is not { Length: > 0 } named)
                {
                    return (null, Problems.Create(StatusCodes.Status400BadRequest, "'node' must be a node id",
                        "Name a member listed by GET /api/v1/cluster, or leave 'node' out to let the cluster choose."));
                }
                node = named;
            }

            var options = JobOptions.Default;
            if (queue is not null)
            {
                var (read, problem) = ReadJobOptions(root, queue, callbacks);
                if (problem is not null)
                {
                    return (null, problem);
                }
                options = read! with { HttpLane = httpLane };
            }

            return (new WorkSubmission(type!, data.GetRawText(), body, node, options), null);
        }
    }

    /// <summary>How deep a body may nest (the work's data one level less): within what the mesh and the workers read.</summary>
    public const int MaxDepth = 33;

    /// <summary>
    /// Reads a body that must be a JSON object, with the rules every endpoint shares: a JSON content type, at most
    /// <paramref name="maxBytes"/>, well-formed, nested at most <see cref="MaxDepth"/> deep, and every string and name
    /// valid Unicode (no invalid UTF-8, no lone surrogate). The caller disposes the document.
    /// </summary>
    public static async Task<(JsonDocument? Document, ReadOnlyMemory<byte> Body, ProblemHttpResult? Problem)> ReadJsonObjectAsync(
        HttpContext context, int maxBytes, string limitSetting)
    {
        if (!IsJsonContentType(context.Request.ContentType))
        {
            return (null, default, Problems.Create(StatusCodes.Status415UnsupportedMediaType, "Unsupported content type",
                $"The body must be JSON, sent as application/json (or without a content type, or as " +
                $"application/x-www-form-urlencoded as curl -d does), not '{ErrorText.Bound(context.Request.ContentType)}'."));
        }

        var body = await ReadBodyAsync(context, maxBytes);
        if (body is null)
        {
            return (null, default, Problems.Create(StatusCodes.Status413PayloadTooLarge, "Payload too large",
                $"The body is larger than the limit of {maxBytes} bytes ({limitSetting})."));
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body.Value, new JsonDocumentOptions { MaxDepth = MaxDepth });
        }
        catch (JsonException e) when (e.Message.Contains("maximum configured depth", StringComparison.Ordinal))
        {
            return (null, default, Problems.Create(StatusCodes.Status400BadRequest, "JSON nested too deeply",
                $"The body nests deeper than {MaxDepth} levels (the work's data {MaxDepth - 1})."));
        }
        catch (JsonException e)
        {
            return (null, default, Problems.Create(StatusCodes.Status400BadRequest, "Malformed JSON", $"The body is not valid JSON: {e.Message}"));
        }

        if (document.RootElement.ValueKind != JsonValueKind.Object)
        {
            document.Dispose();
            return (null, default, Problems.Create(StatusCodes.Status400BadRequest, "The body must be a JSON object",
                """Send an object such as {"data": "foo", "type": "echo"}."""));
        }
        if (!IsValidText(document.RootElement))
        {
            document.Dispose();
            return (null, default, Problems.Create(StatusCodes.Status400BadRequest, "Invalid text in JSON",
                "A string or a member name in the body is not valid Unicode: it holds bytes that are not UTF-8, or an escaped " +
                "lone surrogate (such as \\ud800 without its pair)."));
        }
        return (document, body.Value, null);
    }

    /// <summary>Whether every string and member name in <paramref name="element"/> is valid Unicode.</summary>
    private static bool IsValidText(JsonElement element)
    {
        try
        {
            switch (element.ValueKind)
            {
                case JsonValueKind.String:
                    _ = element.GetString();
                    return true;
                case JsonValueKind.Object:
                    foreach (var member in element.EnumerateObject())
                    {
                        _ = member.Name;
                        if (!IsValidText(member.Value))
                        {
                            return false;
                        }
                    }
                    return true;
                case JsonValueKind.Array:
                    foreach (var item in element.EnumerateArray())
                    {
                        if (!IsValidText(item))
                        {
                            return false;
                        }
                    }
                    return true;
                default:
                    return true;
            }
        }
        catch (InvalidOperationException)
        {
            return false; // "Cannot transcode invalid UTF-8 JSON text to UTF-16", or a lone surrogate
        }
    }

    private static (JobOptions? Options, ProblemHttpResult? Problem) ReadJobOptions(JsonElement root, QueueOptions queue,
        CallbackPolicy? callbacks)
    {
        var options = JobOptions.Default;
        if (root.TryGetProperty("priority", out var priority) && priority.ValueKind != JsonValueKind.Null)
        {
            if (priority.ValueKind != JsonValueKind.Number || !priority.TryGetInt32(out var level)
                || level is < JobOptions.MinPriority or > JobOptions.MaxPriority)
            {
                return (null, Problems.Create(StatusCodes.Status400BadRequest, "Invalid 'priority'",
                    $"'priority' must be a whole number from {JobOptions.MinPriority} to {JobOptions.MaxPriority} (higher runs first; " +
                    $"{JobOptions.DefaultPriority} when absent)."));
            }
            options = options with { Priority = level };
        }

        var hasDelay = root.TryGetProperty("delay_ms", out var delay) && delay.ValueKind != JsonValueKind.Null;
        var hasRunAt = root.TryGetProperty("run_at", out var runAt) && runAt.ValueKind != JsonValueKind.Null;
        if (hasDelay && hasRunAt)
        {
            return (null, Problems.Create(StatusCodes.Status400BadRequest, "Both 'delay_ms' and 'run_at'",
                "Say when the work runs either way, not both: 'delay_ms' (from now) or 'run_at' (an RFC 3339 time)."));
        }
        var maxDelayMs = (long)queue.MaxDelay.TotalMilliseconds;
        if (hasDelay)
        {
            if (delay.ValueKind != JsonValueKind.Number || !delay.TryGetInt64(out var ms) || ms < 0 || ms > maxDelayMs)
            {
                return (null, Problems.Create(StatusCodes.Status400BadRequest, "Invalid 'delay_ms'",
                    $"'delay_ms' must be a whole number of milliseconds from 0 to {maxDelayMs} (Work:MaxDelay)."));
            }
            options = options with { Delay = TimeSpan.FromMilliseconds(ms) };
        }
        if (hasRunAt)
        {
            if (runAt.ValueKind != JsonValueKind.String || !TryParseRfc3339(runAt.GetString()!, out var at))
            {
                return (null, Problems.Create(StatusCodes.Status400BadRequest, "Invalid 'run_at'",
                    "'run_at' must be an RFC 3339 date and time with its offset, e.g. \"2026-12-24T18:00:00Z\"."));
            }
            if (at > DateTimeOffset.UtcNow + queue.MaxDelay)
            {
                return (null, TooFarAhead(queue));
            }
            options = options with { RunAt = at };
        }
        if (root.TryGetProperty("callback_url", out var callback) && callback.ValueKind != JsonValueKind.Null)
        {
            if (callbacks is not { Enabled: true })
            {
                return (null, Problems.Create(StatusCodes.Status400BadRequest, "Webhooks are not enabled",
                    "This cluster sends no webhooks (Webhooks:Secret is not set): leave out 'callback_url', and wait for the result " +
                    "(GET /api/v1/work/{id}?wait=30) or stream it (GET /api/v1/work/{id}/events) instead."));
            }
            var why = callback.ValueKind == JsonValueKind.String
                ? CallbackUrls.Check(callback.GetString()!, callbacks.AllowPrivateNetworks)
                : "It must be a string.";
            if (why is not null)
            {
                return (null, Problems.Create(StatusCodes.Status400BadRequest, "Invalid 'callback_url'",
                    $"'callback_url' must be an http or https URL the webhook may be sent to. {why}"));
            }
            options = options with { CallbackUrl = callback.GetString() };
        }
        return (options, null);
    }

    /// <summary>The problem of a job that would fall due further ahead than <see cref="QueueOptions.MaxDelay"/>.</summary>
    public static ProblemHttpResult TooFarAhead(QueueOptions queue) =>
        Problems.Create(StatusCodes.Status400BadRequest, "Invalid 'run_at'",
            $"'run_at' is more than {queue.MaxDelay} ahead (Work:MaxDelay).");

    private static bool TryParseRfc3339(string text, out DateTimeOffset value)
    {
        value = default;
        return Rfc3339().IsMatch(text)
            && DateTimeOffset.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.None, out value);
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")]
    private static partial System.Text.RegularExpressions.Regex Rfc3339();

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
}

/// <summary>Which callback URLs submissions may give: whether webhooks are on, and whether private networks are allowed.</summary>
public sealed record CallbackPolicy(bool Enabled, bool AllowPrivateNetworks);

/// <summary>RFC 9457 problems, the one way every endpoint reports a mistake.</summary>
public static class Problems
{
    public static ProblemHttpResult Create(int status, string title, string detail, Dictionary<string, object?>? extensions = null) =>
        TypedResults.Problem(statusCode: status, title: title, detail: detail, extensions: extensions);
}
