using System.ComponentModel.DataAnnotations;
using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.Options;

namespace WorkCluster.Handlers;

public sealed class SleepOptions
{
    /// <summary>How long a <c>sleep</c> job sleeps unless its data says <c>{"sleep_ms": n}</c>.</summary>
    [Range(0, 86_400_000)]
    public int SleepMs { get; set; } = 3000;
}

/// <summary>
/// <c>sleep</c>: pauses <c>Work:SleepMs</c> (or the data's <c>sleep_ms</c>), reporting its progress as it goes, and returns
/// how long it slept.
/// The demo workload: it stands for any I/O-bound job. With <c>"ignore_cancellation": true</c> it sleeps on when
/// cancelled, as a badly written handler would (to see a cancelled job's lease revoked after the grace).
/// </summary>
public sealed class SleepHandler(IOptions<SleepOptions> options, IOptions<WorkTypeOptions> types) : IWorkHandler, IValidatesWorkData
{
    /// <summary><c>sleep_ms</c>, if given, is a whole number of milliseconds no longer than the type's timeout.</summary>
    public string? Validate(string type, JsonElement data)
    {
        if (data.ValueKind != JsonValueKind.Object || !data.TryGetProperty("sleep_ms", out var requested))
        {
            return null;
        }
        var most = (long)Math.Min(types.Value.TimeoutFor(type).TotalMilliseconds, int.MaxValue);
        return requested.ValueKind == JsonValueKind.Number && requested.TryGetInt64(out var ms) && ms >= 0 && ms <= most
            ? null
            : $"'sleep_ms' must be a whole number of milliseconds from 0 to {most} (the type's timeout, Work:Timeout).";
    }

    public async Task<object?> HandleAsync(WorkItem item, CancellationToken cancellationToken)
    {
        var sleepMs = options.Value.SleepMs;
        if (item.Data.ValueKind == JsonValueKind.Object
            && item.Data.TryGetProperty("sleep_ms", out var requested)
            && requested.TryGetInt32(out var ms) && ms >= 0)
        {
            sleepMs = ms;
        }

        var ignoreCancellation = item.Data.ValueKind == JsonValueKind.Object
            && item.Data.TryGetProperty("ignore_cancellation", out var ignore) && ignore.ValueKind == JsonValueKind.True;

        // Sleeps in up to 10 steps (of 100 ms at least), reporting its progress after each step but the last.
        var cancel = ignoreCancellation ? CancellationToken.None : cancellationToken;
        var started = Stopwatch.GetTimestamp();
        var steps = Math.Clamp(sleepMs / 100, 1, 10);
        for (var step = 1; step <= steps; step++)
        {
            var due = TimeSpan.FromMilliseconds((double)sleepMs * step / steps) - Stopwatch.GetElapsedTime(started);
            if (due > TimeSpan.Zero)
            {
                await Task.Delay(due, cancel).ConfigureAwait(false);
            }
            if (step < steps)
            {
                await item.ReportProgressAsync(100.0 * step / steps, $"slept {sleepMs * step / steps} of {sleepMs} ms").ConfigureAwait(false);
            }
        }
        return new SleepResult((long)Math.Round(Stopwatch.GetElapsedTime(started).TotalMilliseconds));
    }
}

public sealed record SleepResult([property: System.Text.Json.Serialization.JsonPropertyName("slept_ms")] long SleptMs);
