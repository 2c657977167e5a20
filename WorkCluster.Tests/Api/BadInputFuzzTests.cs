using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using WorkCluster.Tests.Infrastructure;
using Xunit.Abstractions;

namespace WorkCluster.Tests.Api;

/// <summary>
/// Generated bad requests of many shapes (seeded, so a failure can be replayed) against the real app through the
/// gateway: invalid UTF-8 and lone surrogates in every field, deep and wide JSON, huge numbers, wrong types, truncated
/// and garbage bodies, odd content types, methods, paths and headers, and malformed HTTP on a raw socket. Every one
/// must be answered, never with a 5xx, and the app must still work a job afterwards.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class BadInputFuzzTests(ClusterAppFixture app, ITestOutputHelper output)
{
    private const int Seed = 20261201;
    private const int Requests = 1200;
    private const int RawRequests = 120;

    private static readonly string[] Fields = ["data", "type", "priority", "delay_ms", "run_at", "callback_url", "node", "cron", "time_zone"];
    private static readonly string[] ContentTypes =
    [
        "application/json", "application/json; charset=utf-16", "text/plain", "multipart/form-data; boundary=x", "application/xml",
        "application/x-www-form-urlencoded", "application/problem+json", ";;;", "application/", "*/*",
    ];

    [Fact]
    public async Task A_thousand_generated_bad_requests_get_no_5xx_and_the_app_still_works()
    {
        var random = new Random(Seed);
        var statuses = new Dictionary<int, int>();
        var serverErrors = new List<string>();
        var requests = Enumerable.Range(0, Requests).Select(i => Generate(random, i)).ToArray();
        using var gate = new SemaphoreSlim(8);
        await Task.WhenAll(requests.Select(async r =>
        {
            await gate.WaitAsync();
            try
            {
                using var response = await app.Gateway.SendAsync(r.Build());
                lock (statuses)
                {
                    statuses[(int)response.StatusCode] = statuses.GetValueOrDefault((int)response.StatusCode) + 1;
                    if ((int)response.StatusCode >= 500)
                    {
                        serverErrors.Add($"{(int)response.StatusCode} for {r.Describe}");
                    }
                }
            }
            finally
            {
                gate.Release();
            }
        }));

        var raw = await SendRawAsync(new Random(Seed + 1));
        foreach (var (status, description) in raw)
        {
            statuses[status] = statuses.GetValueOrDefault(status) + 1;
            if (status is >= 500 or 0)
            {
                serverErrors.Add($"{(status == 0 ? "no answer" : status.ToString())} for {description}");
            }
        }

        output.WriteLine($"{Requests + RawRequests} generated bad requests (seed {Seed}); answers by status: " +
            string.Join(", ", statuses.OrderBy(s => s.Key).Select(s => $"{(s.Key == 0 ? "none" : s.Key)}×{s.Value}")));
        Assert.True(serverErrors.Count == 0, $"{serverErrors.Count} requests got a 5xx or no answer:\n{string.Join("\n", serverErrors.Take(20))}");

        foreach (var schedule in requests.Select(r => r.Path).Where(p => p.StartsWith("/api/v1/schedules/fuzz-")).Distinct())
        {
            using var _ = await app.Gateway.DeleteAsync(schedule);
        }
        var job = await app.Work.SubmitAsync("echo", "\"still working\"");
        var worked = await app.Work.WaitForStatusAsync(job.Id, "worked");
        Assert.Equal("still working", worked.GetProperty("result").GetString());
    }

    private sealed record FuzzRequest(HttpMethod Method, string Path, byte[]? Body, string? ContentType, (string Name, string Value)[] Headers)
    {
        public string Describe => $"{Method} {Path} [{ContentType}] {(Body is null ? "" : Encoding.UTF8.GetString(Body.AsSpan(0, Math.Min(Body.Length, 160))))}";

        public HttpRequestMessage Build()
        {
            var request = new HttpRequestMessage(Method, Path);
            if (Body is not null)
            {
                request.Content = new ByteArrayContent(Body);
                if (ContentType is not null)
                {
                    request.Content.Headers.TryAddWithoutValidation("Content-Type", ContentType);
                }
            }
            foreach (var (name, value) in Headers)
            {
                request.Headers.TryAddWithoutValidation(name, value);
            }
            return request;
        }
    }

    private static FuzzRequest Generate(Random random, int i)
    {
        var headers = random.Next(6) == 0
            ? new[] { (Pick(random, ["Idempotency-Key", "Last-Event-ID", "Authorization", "X-Api-Key"]),
                Pick(random, ["", new string('k', 300), "%ff-key", "a b", "tab\tkey", "x,y", "Bearer", "Bearer ", "Basic Zm9vOmJhcg=="])) }
            : [];
        var endpoint = random.Next(10);
        switch (endpoint)
        {
            case 0:
                return new(HttpMethod.Get, $"/api/v1/work/{JunkId(random)}?wait={Pick(random, ["-1", "99999999999", "1e3", "%00", "abc", "61", ""])}", null, null, headers);
            case 1:
                return new(HttpMethod.Get, $"/api/v1/events?type={Pick(random, ["bogus", "worked,%ff", "%ED%A0%80", new string('t', 3000)])}" +
                    $"&kind={Pick(random, ["x", "", "sleep"])}", null, null, headers);
            case 2:
                return new(Pick(random, [HttpMethod.Delete, HttpMethod.Get, HttpMethod.Patch, HttpMethod.Options, HttpMethod.Head]),
                    $"/api/v1/work/{JunkId(random)}{Pick(random, ["", "/events", "/retry", "/%2e%2e/%2e%2e"])}", null, null, headers);
            case 3:
                return new(HttpMethod.Post, "/api/v1/cluster/ping", Body(random, ["node"]), PickContentType(random), headers);
            case 4:
                return new(HttpMethod.Post, "/api/v1/cluster/run", Body(random, ["data", "type", "node"]), PickContentType(random), headers);
            case 5:
                return new(HttpMethod.Put, $"/api/v1/schedules/fuzz-{i}", Body(random, ["data", "type", "cron", "time_zone", "priority"]),
                    PickContentType(random), headers);
            default:
                return new(HttpMethod.Post, "/api/v1/work", Body(random, Fields), PickContentType(random), headers);
        }
    }

    /// <summary>A body that is wrong in at least one way.</summary>
    private static byte[] Body(Random random, string[] fields)
    {
        var field = Pick(random, fields);
        var valid = new Dictionary<string, string> { ["data"] = "1", ["type"] = "\"echo\"", ["cron"] = "\"0 0 1 1 *\"" };
        switch (random.Next(9))
        {
            case 0: // invalid UTF-8 inside a string
            {
                var bytes = new List<byte>(Encoding.UTF8.GetBytes($"{{\"{field}\":\"ab"));
                bytes.AddRange(Pick(random, new byte[][] { [0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0x80, 0x80, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80] }));
                bytes.AddRange(Encoding.UTF8.GetBytes("cd\""));
                if (field != "data")
                {
                    bytes.AddRange(Encoding.UTF8.GetBytes(",\"data\":1"));
                }
                bytes.Add((byte)'}');
                return [.. bytes];
            }
            case 1: // an escaped lone surrogate, in a value or a name
                return Utf8(random.Next(2) == 0
                    ? $"{{\"{field}\":\"x{Pick(random, ["\\ud800", "\\udfff", "\\ud800\\ud800", "\\udc00x"])}\",\"data\":1}}"
                    : $"{{\"data\":{{\"\\ud834\":1}},\"type\":\"echo\"}}");
            case 2: // deep
            {
                var depth = random.Next(20, 400);
                var open = random.Next(2) == 0 ? '[' : '{';
                var inner = open == '[' ? new string('[', depth) + new string(']', depth) : string.Concat(Enumerable.Repeat("{\"a\":", depth)) + "1" + new string('}', depth);
                return Utf8($"{{\"{field}\":{inner}}}");
            }
            case 3: // wide
            {
                var width = random.Next(1000, 20000);
                var wide = random.Next(2) == 0
                    ? "[" + string.Join(",", Enumerable.Range(0, width)) + "]"
                    : "{" + string.Join(",", Enumerable.Range(0, width).Select(k => $"\"k{k}\":{k}")) + "}";
                return Utf8($"{{\"{field}\":{wide}{(field == "data" ? "" : ",\"data\":1")},\"type\":7}}");
            }
            case 4: // huge or odd numbers
                return Utf8($"{{\"{field}\":{Pick(random, ["1e400", "-1e400", "123456789012345678901234567890", "1.5e-400", "-0", "0.0000001", "9223372036854775808"])}" +
                    $"{(field == "data" ? ",\"type\":\"sleep\",\"priority\":1e400,\"node\":[]" : ",\"data\":{\"sleep_ms\":1e400,\"fail_times\":-1e400}")}}}");
            case 5: // a wrong type for a field
            {
                // Never a value that makes the body valid (a null node would let a ping through to the mesh).
                var value = Pick(random, ["true", "[]", "{}", "\"\"", "-1", "1.5", "[1,2]", "{\"a\":null}"]);
                var others = string.Join("", fields.Where(f => f != field && valid.ContainsKey(f)).Select(f => $",\"{f}\":{valid[f]}"));
                return Utf8($"{{\"{field}\":{value}{others},\"type\":{Pick(random, ["null", "1", "\"no-such\"", "[\"echo\"]"])}}}");
            }
            case 6: // truncated
            {
                var whole = $"{{\"data\":{{\"x\":[1,2,\"three\"]}},\"type\":\"echo\",\"{field}\":\"v\"}}";
                return Utf8(whole[..random.Next(0, whole.Length - 1)]);
            }
            case 7: // garbage
            {
                var bytes = new byte[random.Next(1, 2048)];
                random.NextBytes(bytes);
                return bytes;
            }
            default: // JSON that is not an object, or an object of the wrong shape
                return Utf8(Pick(random, ["[]", "\"data\"", "42", "null", "{\"data\"}", "{,}", "{\"data\":1,}", "{\"data\":1}{\"data\":2}", "{\"data\":1,\"type\":\"echo\""]));
        }
    }

    /// <summary>Malformed HTTP on a raw socket, and bodies cut short: each must still get an answer (a status line).</summary>
    private async Task<List<(int Status, string Description)>> SendRawAsync(Random random)
    {
        var port = app.Gateway.BaseAddress!.Port;
        var results = new List<(int, string)>();
        for (var i = 0; i < RawRequests; i++)
        {
            // A body that stops short of its Content-Length and then stalls: a few only, each waits out the server's
            // minimum body data rate (Kestrel: 5 s of grace).
            var shape = i < 3 ? 0 : random.Next(1, 6);
            var request = shape switch
            {
                0 => $"POST /api/v1/work HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"data\":\"short",
                1 => $"{Pick(random, ["GE T", "P\u00d6ST", "BREW", "GET\u0001"])} /api/v1/work HTTP/1.1\r\nHost: x\r\n\r\n",
                2 => $"GET /api/v1/work/{Pick(random, ["%00", "%ff%fe", "a\u0001b", new string('A', 9000)])} HTTP/1.1\r\nHost: x\r\n\r\n",
                3 => $"POST /api/v1/work HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n{{\"a\":1}}",
                4 => $"POST /api/v1/work HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{{}}\r\n0\r\n\r\n",
                _ => $"GET /api/v1/work HTTP/1.1\r\nHost: x\r\nX-Big: {new string('h', random.Next(10_000, 70_000))}\r\n\r\n",
            };
            results.Add((await SendOneRawAsync(port, request), request.Length > 120 ? request[..120] : request));
        }
        return results;
    }

    private static async Task<int> SendOneRawAsync(int port, string request)
    {
        using var client = new TcpClient();
        await client.ConnectAsync("127.0.0.1", port);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.Latin1.GetBytes(request));
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var buffer = new byte[64];
        var read = 0;
        try
        {
            while (read < 12)
            {
                var n = await stream.ReadAsync(buffer.AsMemory(read), timeout.Token);
                if (n == 0)
                {
                    break;
                }
                read += n;
            }
        }
        catch (IOException)
        {
        }
        var line = Encoding.Latin1.GetString(buffer, 0, read);
        return line.StartsWith("HTTP/1.1 ", StringComparison.Ordinal) && int.TryParse(line.AsSpan(9, 3), out var status) ? status : 0;
    }

    private static string JunkId(Random random) => Pick(random, ["abc", "AAAAAAAAAAAAAAAAAAAAAA", "%ED%A0%80", "%00", new string('A', 5000), "a%2Fb", "%2e%2e", "%20"]);

    private static string? PickContentType(Random random) => random.Next(10) == 0 ? null : Pick(random, ContentTypes);

    private static T Pick<T>(Random random, T[] items) => items[random.Next(items.Length)];

    private static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);
}
