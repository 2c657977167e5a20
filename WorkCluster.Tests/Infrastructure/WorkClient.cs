using System.Net.Http.Headers;
using System.Text;

namespace WorkCluster.Tests.Infrastructure;

/// <summary>What a user of the HTTP API does: submit work, poll its status.</summary>
public sealed class WorkClient(HttpClient http)
{
    public const string WorkPath = "/api/v1/work";

    /// <summary>POSTs <paramref name="body"/> exactly as given, with <paramref name="contentType"/> (none if null).</summary>
    public Task<HttpResponseMessage> PostRawAsync(string body, string? contentType = "application/json")
    {
        var content = new StringContent(body, Encoding.UTF8);
        content.Headers.ContentType = contentType is null ? null : MediaTypeHeaderValue.Parse(contentType);
        return http.PostAsync(WorkPath, content);
    }

    /// <summary>Submits work (with a priority, if given) and returns the 202 answer (fails the test on any other status).</summary>
    public async Task<Accepted> SubmitAsync(string type, string dataJson, int? priority = null)
    {
        var options = priority is { } level ? $$""","priority":{{level}}""" : "";
        using var response = await PostRawAsync($$"""{"type":"{{type}}","data":{{dataJson}}{{options}}}""");
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, $"POST answered {(int)response.StatusCode}: {body}");
        var json = JsonDocument.Parse(body).RootElement;
        return new Accepted(json.GetProperty("callback").GetString()!, json.GetProperty("accepted_by").GetString()!, response.Headers.Location);
    }

    /// <summary>DELETE of the job (cancel): the status code and the body (JSON).</summary>
    public async Task<(HttpStatusCode Status, JsonElement Body)> CancelAsync(string id)
    {
        using var response = await http.DeleteAsync($"{WorkPath}/{id}");
        var body = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, JsonDocument.Parse(body).RootElement.Clone());
    }

    /// <summary>GET of the job: its JSON, or null on 404.</summary>
    public async Task<JsonElement?> GetAsync(string id)
    {
        using var response = await http.GetAsync($"{WorkPath}/{id}");
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET answered {(int)response.StatusCode}: {body}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    /// <summary>Polls until the job has <paramref name="status"/>; returns it. Fails after <paramref name="timeout"/>.</summary>
    public async Task<JsonElement> WaitForStatusAsync(string id, string status, TimeSpan? timeout = null, TimeSpan? pollInterval = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        JsonElement? last = null;
        while (DateTime.UtcNow < deadline)
        {
            using var response = await http.GetAsync($"{WorkPath}/{id}");
            // 503: Redis is away or the API is reconnecting to it — not an answer yet.
            if (response.StatusCode != HttpStatusCode.ServiceUnavailable)
            {
                var body = await response.Content.ReadAsStringAsync();
                Assert.True(response.StatusCode is HttpStatusCode.OK or HttpStatusCode.NotFound, $"GET answered {(int)response.StatusCode}: {body}");
                last = response.StatusCode == HttpStatusCode.OK ? JsonDocument.Parse(body).RootElement.Clone() : null;
                if (last?.GetProperty("status").GetString() == status)
                {
                    return last.Value;
                }
            }
            await Task.Delay(pollInterval ?? TimeSpan.FromMilliseconds(50));
        }
        Assert.Fail($"Job {id} did not reach '{status}' in time; last seen: {last?.ToString() ?? "404"}");
        return default;
    }

    /// <summary>
    /// Waits for every job to reach <paramref name="status"/>, watching all of them at once: a job whose result TTL is
    /// short must be seen before it expires, however long the others take.
    /// </summary>
    public async Task<JsonElement[]> WaitForAllAsync(IEnumerable<string> ids, string status, TimeSpan? timeout = null) =>
        await Task.WhenAll(ids.Select(id => WaitForStatusAsync(id, status, timeout, TimeSpan.FromMilliseconds(200))));

    public sealed record Accepted(string Id, string AcceptedBy, Uri? Location);
}
