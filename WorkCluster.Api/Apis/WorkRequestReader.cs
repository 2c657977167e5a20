using System.Buffers;
using System.Net.Http.Headers;
using System.Text.Json;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;
using WorkCluster.Handlers;

namespace WorkCluster.Api.Apis;

/// <summary>A request body that names work: its type, its data (JSON text), the raw body, and an optional node.</summary>
public sealed record WorkSubmission(string Type, string Data, ReadOnlyMemory<byte> Body, string? Node);

/// <summary>
/// Reads and checks a body like <c>{"data": ..., "type": "..."}</c> the same way for every endpoint that takes one,
/// turning each mistake into the problem a client can act on.
/// </summary>
public static class WorkRequestReader
{
    public static async Task<(WorkSubmission? Work, ProblemHttpResult? Problem)> ReadAsync(HttpContext context, WorkTypes types,
        int maxBytes, bool allowNode = false)
    {
        if (!IsJsonContentType(context.Request.ContentType))
        {
            return (null, Problems.Create(StatusCodes.Status415UnsupportedMediaType, "Unsupported content type",
                $"The body must be JSON, sent as application/json (or without a content type, or as " +
                $"application/x-www-form-urlencoded as curl -d does), not '{context.Request.ContentType}'."));
        }

        var body = await ReadBodyAsync(context, maxBytes);
        if (body is null)
        {
            return (null, Problems.Create(StatusCodes.Status413PayloadTooLarge, "Payload too large",
                $"The body is larger than the limit of {maxBytes} bytes (Work:MaxPayloadBytes)."));
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body.Value);
        }
        catch (JsonException e)
        {
            return (null, Problems.Create(StatusCodes.Status400BadRequest, "Malformed JSON", $"The body is not valid JSON: {e.Message}"));
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return (null, Problems.Create(StatusCodes.Status400BadRequest, "The body must be a JSON object",
                    """Send an object such as {"data": "foo", "type": "echo"}."""));
            }
            if (!root.TryGetProperty("data", out var data))
            {
                return (null, Problems.Create(StatusCodes.Status400BadRequest, "Missing 'data'",
                    """The body must have a 'data' member holding the work's input (any JSON value), e.g. {"data": "foo"}."""));
            }

            var type = types.DefaultType;
            if (root.TryGetProperty("type", out var typeElement) && typeElement.ValueKind != JsonValueKind.Null)
            {
                if (typeElement.ValueKind != JsonValueKind.String)
                {
                    return (null, Problems.Create(StatusCodes.Status400BadRequest, "'type' must be a string",
                        $"Known work types: {string.Join(", ", types.Names)}.", new() { ["known_types"] = types.Names }));
                }
                type = typeElement.GetString()!;
                if (!types.Contains(type))
                {
                    return (null, Problems.Create(StatusCodes.Status400BadRequest, "Unknown work type",
                        $"There is no work type '{type}'. Known work types: {string.Join(", ", types.Names)}.",
                        new() { ["known_types"] = types.Names }));
                }
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

            return (new WorkSubmission(type, data.GetRawText(), body.Value, node), null);
        }
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
}

/// <summary>RFC 9457 problems, the one way every endpoint reports a mistake.</summary>
public static class Problems
{
    public static ProblemHttpResult Create(int status, string title, string detail, Dictionary<string, object?>? extensions = null) =>
        TypedResults.Problem(statusCode: status, title: title, detail: detail, extensions: extensions);
}
