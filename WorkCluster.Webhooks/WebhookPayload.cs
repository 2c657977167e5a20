using System.Text.Json;
using WorkCluster.Queue;

namespace WorkCluster.Webhooks;

/// <summary>
/// The body of a delivery, as Standard Webhooks lays it out: <c>{"type": "work.worked", "timestamp": ..., "data": {...}}</c>,
/// the data being the job's final status as GET /api/v1/work/{id} shows it (its result included).
/// </summary>
public static class WebhookPayload
{
    /// <summary>
    /// The <c>webhook-id</c>: the same on every attempt of one delivery, another for each time the job ends (a failed
    /// job retried from the dead letter may end again).
    /// </summary>
    public static string DeliveryId(JobView job) => $"{job.Id}_{job.Record.FinishedAt ?? 0}";

    public static byte[] Build(JobView job)
    {
        var record = job.Record;
        var status = record.Status.ToString().ToLowerInvariant(); // as JSON names it (scheduled, ..., cancelled)
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("type", "work." + status);
            json.WriteString("timestamp", DateTimeOffset.FromUnixTimeMilliseconds(record.FinishedAt ?? record.CreatedAt));
            json.WriteStartObject("data");
            json.WriteString("id", job.Id);
            json.WriteString("status", status);
            json.WriteString("type", record.Type);
            json.WriteNumber("attempts", record.Attempts);
            json.WriteString("created_at", DateTimeOffset.FromUnixTimeMilliseconds(record.CreatedAt));
            if (record.FinishedAt is { } finished)
            {
                json.WriteString("finished_at", DateTimeOffset.FromUnixTimeMilliseconds(finished));
            }
            if (record.LastError is { } error)
            {
                json.WriteString("last_error", error);
            }
            if (job.Result is { } result)
            {
                json.WritePropertyName("result");
                json.WriteRawValue(result);
            }
            json.WriteEndObject();
            json.WriteEndObject();
        }
        return buffer.ToArray();
    }
}
