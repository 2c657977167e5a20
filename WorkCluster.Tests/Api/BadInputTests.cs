using System.Text;
using WorkCluster.Tests.Infrastructure;

namespace WorkCluster.Tests.Api;

/// <summary>Every client mistake gets its status code and an RFC 9457 problem saying what is wrong — never a 500.</summary>
[Collection(ClusterCollection.Name)]
public sealed class BadInputTests(ClusterAppFixture app)
{
    public static TheoryData<string, string?, string, int, string> BadPosts => new()
    {
        // name, content type, body, status, title
        { "malformed JSON", "application/json", """{"data": """, 400, "Malformed JSON" },
        { "empty body", "application/json", "", 400, "Malformed JSON" },
        { "not an object", "application/json", """["data"]""", 400, "The body must be a JSON object" },
        { "missing data", "application/json", """{"type":"echo"}""", 400, "Missing 'data'" },
        { "unknown type", "application/json", """{"data":1,"type":"nope"}""", 400, "Unknown work type" },
        { "type not a string", "application/json", """{"data":1,"type":7}""", 400, "'type' must be a string" },
        { "priority below 0", "application/json", """{"data":1,"priority":-1}""", 400, "Invalid 'priority'" },
        { "priority above 9", "application/json", """{"data":1,"priority":10}""", 400, "Invalid 'priority'" },
        { "priority not a number", "application/json", """{"data":1,"priority":"9"}""", 400, "Invalid 'priority'" },
        { "priority not whole", "application/json", """{"data":1,"priority":4.5}""", 400, "Invalid 'priority'" },
        { "negative delay", "application/json", """{"data":1,"delay_ms":-1}""", 400, "Invalid 'delay_ms'" },
        { "delay not whole", "application/json", """{"data":1,"delay_ms":1.5}""", 400, "Invalid 'delay_ms'" },
        { "delay as text", "application/json", """{"data":1,"delay_ms":"100"}""", 400, "Invalid 'delay_ms'" },
        { "delay past the longest", "application/json", """{"data":1,"delay_ms":99999999999}""", 400, "Invalid 'delay_ms'" },
        { "delay and run_at", "application/json", """{"data":1,"delay_ms":10,"run_at":"2030-01-01T00:00:00Z"}""", 400, "Both 'delay_ms' and 'run_at'" },
        { "run_at not RFC 3339", "application/json", """{"data":1,"run_at":"tomorrow"}""", 400, "Invalid 'run_at'" },
        { "run_at a date only", "application/json", """{"data":1,"run_at":"2030-01-01"}""", 400, "Invalid 'run_at'" },
        { "run_at without offset", "application/json", """{"data":1,"run_at":"2030-01-01T00:00:00"}""", 400, "Invalid 'run_at'" },
        { "run_at a number", "application/json", """{"data":1,"run_at":1893456000000}""", 400, "Invalid 'run_at'" },
        { "run_at past the longest delay", "application/json", """{"data":1,"run_at":"2999-01-01T00:00:00Z"}""", 400, "Invalid 'run_at'" },
        { "type null", "application/json", """{"data":1,"type":null}""", 400, "'type' must be a string" },
        { "lone surrogate in data", "application/json", """{"data":"a\ud800b"}""", 400, "Invalid text in JSON" },
        { "lone surrogate in type", "application/json", """{"data":1,"type":"\udc00"}""", 400, "Invalid text in JSON" },
        { "lone surrogate in a name", "application/json", """{"data":{"\ud800":1}}""", 400, "Invalid text in JSON" },
        { "nested too deeply", "application/json", "{\"data\":" + new string('[', 40) + new string(']', 40) + "}", 400, "JSON nested too deeply" },
        { "sleep past its timeout", "application/json", """{"type":"sleep","data":{"sleep_ms":2147483647}}""", 400, "Invalid data for work type 'sleep'" },
        { "sleep negative", "application/json", """{"type":"sleep","data":{"sleep_ms":-5}}""", 400, "Invalid data for work type 'sleep'" },
        { "fail_times negative", "application/json", """{"type":"flaky","data":{"fail_times":-1}}""", 400, "Invalid data for work type 'flaky'" },
        { "callback_url a number", "application/json", """{"data":1,"callback_url":7}""", 400, "Invalid 'callback_url'" },
        { "wrong content type", "text/plain", """{"data":1}""", 415, "Unsupported content type" },
        { "xml", "application/xml", "<data/>", 415, "Unsupported content type" },
    };

    [Theory]
    [MemberData(nameof(BadPosts))]
    public async Task A_bad_submission_gets_a_problem_with_its_status(string name, string? contentType, string body, int status, string title)
    {
        using var response = await app.Work.PostRawAsync(body, contentType);

        await AssertProblemAsync(response, status, title, name);
    }

    [Fact]
    public async Task An_unknown_type_is_answered_with_the_known_types()
    {
        using var response = await app.Work.PostRawAsync("""{"data":1,"type":"nope"}""");

        var problem = await AssertProblemAsync(response, 400, "Unknown work type", "unknown type");
        Assert.Equal(["echo", "flaky", "noop", "sha256", "sleep"], problem.GetProperty("known_types").EnumerateArray().Select(e => e.GetString()));
    }

    [Fact]
    public async Task A_body_over_the_payload_limit_is_refused_with_413()
    {
        var body = $$"""{"data":"{{new string('x', 1024 * 1024)}}"}""";

        using var response = await app.Work.PostRawAsync(body);

        await AssertProblemAsync(response, 413, "Payload too large", "1 MiB of data");
    }

    [Fact]
    public async Task A_body_of_unannounced_length_over_the_limit_is_refused_with_413()
    {
        var content = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes($$"""{"data":"{{new string('x', 1024 * 1024)}}"}""")));
        content.Headers.ContentType = new("application/json");
        using var request = new HttpRequestMessage(HttpMethod.Post, WorkClient.WorkPath) { Content = content };
        request.Headers.TransferEncodingChunked = true;

        using var response = await app.Gateway.SendAsync(request);

        await AssertProblemAsync(response, 413, "Payload too large", "chunked body");
    }

    [Theory]
    [InlineData("PUT", "/api/v1/work")]
    [InlineData("DELETE", "/api/v1/work")]
    [InlineData("POST", "/api/v1/work/AAAAAAAAAAAAAAAAAAAAAA")]
    [InlineData("POST", "/api/v1/schedules/nightly")]
    public async Task A_wrong_method_gets_405(string method, string path)
    {
        using var response = await app.Gateway.SendAsync(new HttpRequestMessage(new HttpMethod(method), path));

        await AssertProblemAsync(response, 405, "Method Not Allowed", $"{method} {path}");
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("AAAAAAAAAAAAAAAAAAAAA%2F")]
    [InlineData("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    [InlineData("AAAAAAAAAAAAAAAAAAAAAA")]
    public async Task An_impossible_or_unknown_id_gets_404(string id)
    {
        using var response = await app.Gateway.GetAsync($"{WorkClient.WorkPath}/{id}");

        await AssertProblemAsync(response, 404, "No such work", id);
    }

    [Theory]
    [InlineData("DELETE", "/api/v1/work/abc", "No such work")]
    [InlineData("DELETE", "/api/v1/work/AAAAAAAAAAAAAAAAAAAAAA", "No such work")]
    [InlineData("GET", "/api/v1/schedules/no-such-schedule", "No such schedule")]
    [InlineData("DELETE", "/api/v1/schedules/no-such-schedule", "No such schedule")]
    [InlineData("GET", "/api/v1/schedules/not%20a%20name", "No such schedule")]
    public async Task Cancelling_unknown_work_or_reading_an_unknown_schedule_gets_404(string method, string path, string title)
    {
        using var response = await app.Gateway.SendAsync(new HttpRequestMessage(new HttpMethod(method), path));

        await AssertProblemAsync(response, 404, title, $"{method} {path}");
    }

    public static TheoryData<string, string, string, int, string> BadSchedules => new()
    {
        // name, schedule name, body, status, title
        { "missing cron", "s", """{"data":1,"type":"echo"}""", 400, "Missing 'cron'" },
        { "cron not a string", "s", """{"data":1,"cron":5}""", 400, "Missing 'cron'" },
        { "bad cron", "s", """{"data":1,"cron":"61 * * * *"}""", 400, "Invalid cron expression" },
        { "cron of seven fields", "s", """{"data":1,"cron":"* * * * * * *"}""", 400, "Invalid cron expression" },
        { "cron never occurs", "s", """{"data":1,"cron":"0 0 30 2 *"}""", 400, "The schedule never occurs" },
        { "unknown time zone", "s", """{"data":1,"cron":"* * * * *","time_zone":"Mars/Olympus_Mons"}""", 400, "Unknown time zone" },
        { "time zone not a string", "s", """{"data":1,"cron":"* * * * *","time_zone":1}""", 400, "'time_zone' must be a time zone name" },
        { "delay in a schedule", "s", """{"data":1,"cron":"* * * * *","delay_ms":5}""", 400, "'delay_ms' and 'run_at' are not for schedules" },
        { "missing data", "s", """{"cron":"* * * * *"}""", 400, "Missing 'data'" },
        { "unknown type", "s", """{"data":1,"cron":"* * * * *","type":"nope"}""", 400, "Unknown work type" },
        { "priority above 9", "s", """{"data":1,"cron":"* * * * *","priority":10}""", 400, "Invalid 'priority'" },
        { "name with a space", "bad%20name", """{"data":1,"cron":"* * * * *"}""", 400, "Invalid schedule name" },
        { "name ending in a newline", "abc%0A", """{"data":1,"cron":"* * * * *"}""", 400, "Invalid schedule name" },
        { "name too long", new string('n', 101), """{"data":1,"cron":"* * * * *"}""", 400, "Invalid schedule name" },
        { "malformed JSON", "s", """{"cron": """, 400, "Malformed JSON" },
    };

    [Theory]
    [MemberData(nameof(BadSchedules))]
    public async Task A_bad_schedule_gets_a_problem_with_its_status(string name, string schedule, string body, int status, string title)
    {
        using var response = await app.Gateway.PutAsync($"/api/v1/schedules/{schedule}", new StringContent(body, Encoding.UTF8, "application/json"));

        await AssertProblemAsync(response, status, title, name);
    }

    [Fact]
    public async Task A_submission_without_a_content_type_is_read_as_json()
    {
        using var response = await app.Work.PostRawAsync("""{"type":"echo","data":{"no":"header"}}""", contentType: null);

        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, $"answered {(int)response.StatusCode}: {body}");
        var id = JsonDocument.Parse(body).RootElement.GetProperty("callback").GetString()!;
        var worked = await app.Work.WaitForStatusAsync(id, "worked");
        Assert.Equal("header", worked.GetProperty("result").GetProperty("no").GetString());
    }

    [Fact]
    public async Task After_every_kind_of_bad_input_the_api_still_serves()
    {
        foreach (var bad in BadPosts)
        {
            using var _ = await app.Work.PostRawAsync((string)bad[2], (string?)bad[1]);
        }
        using (await app.Work.PostRawAsync($$"""{"data":"{{new string('x', 1024 * 1024)}}"}""")) { }
        using (await app.Gateway.SendAsync(new HttpRequestMessage(HttpMethod.Put, WorkClient.WorkPath))) { }
        using (await app.Gateway.GetAsync($"{WorkClient.WorkPath}/abc")) { }

        var job = await app.Work.SubmitAsync("echo", "\"still here\"");
        var worked = await app.Work.WaitForStatusAsync(job.Id, "worked");
        Assert.Equal("still here", worked.GetProperty("result").GetString());
    }

    private static async Task<JsonElement> AssertProblemAsync(HttpResponseMessage response, int status, string title, string because)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode == status, $"{because}: expected {status}, got {(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonDocument.Parse(body).RootElement;
        Assert.Equal(status, problem.GetProperty("status").GetInt32());
        Assert.Equal(title, problem.GetProperty("title").GetString());
        return problem.Clone();
    }
}
