using System.Text.Json;

namespace WorkCluster.Handlers;

/// <summary>
/// <c>flaky</c>: fails its first <c>fail_times</c> attempts (default: every attempt) with the data's <c>error</c>,
/// then returns the attempt that succeeded. Shows retries and the dead letter at work.
/// </summary>
public sealed class FlakyHandler : IWorkHandler, IValidatesWorkData
{
    public string? Validate(string type, JsonElement data)
    {
        if (data.ValueKind == JsonValueKind.Object && data.TryGetProperty("fail_times", out var times)
            && (times.ValueKind != JsonValueKind.Number || !times.TryGetInt32(out var n) || n < 0))
        {
            return "'fail_times' must be a whole number, 0 or more.";
        }
        if (data.ValueKind == JsonValueKind.Object && data.TryGetProperty("error", out var error) && error.ValueKind != JsonValueKind.String)
        {
            return "'error' must be a string.";
        }
        return null;
    }

    public Task<object?> HandleAsync(WorkItem item, CancellationToken cancellationToken)
    {
        var failTimes = int.MaxValue;
        var error = "flaky work failed, as asked";
        if (item.Data.ValueKind == JsonValueKind.Object)
        {
            if (item.Data.TryGetProperty("fail_times", out var times) && times.TryGetInt32(out var n))
            {
                failTimes = n;
            }
            if (item.Data.TryGetProperty("error", out var message) && message.ValueKind == JsonValueKind.String)
            {
                error = message.GetString()!;
            }
        }
        if (item.Attempt <= failTimes)
        {
            throw new FlakyWorkException(error);
        }
        return Task.FromResult<object?>(new FlakyResult(item.Attempt));
    }
}

public sealed class FlakyWorkException(string message) : Exception(message);

public sealed record FlakyResult([property: System.Text.Json.Serialization.JsonPropertyName("succeeded_on_attempt")] int SucceededOnAttempt);
