using System.Diagnostics;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using WorkCluster.Tests.Infrastructure;
using Xunit.Abstractions;

namespace WorkCluster.Tests.Deployment;

/// <summary>
/// A real HAProxy, run with the generated configuration, in front of the two API replicas of a running application
/// (the backend's Docker-DNS servers rewritten to the replicas' own loopback ports).
/// </summary>
[Collection(ThreeWorkersCollection.Name)]
public sealed partial class HaproxyTests(ThreeWorkersAppFixture app, ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan CheckInterval = TimeSpan.FromSeconds(2); // "inter 2s" in the generated backend

    public const string HaproxyInstall = "install HAProxy (Debian/Ubuntu: sudo apt-get install -y haproxy; macOS: brew install haproxy)";

    public Task InitializeAsync() => app.RestoreAsync();

    public Task DisposeAsync() => app.RestoreAsync();

    [SkippableFact]
    public async Task Haproxy_balances_the_api_replicas_survives_losing_one_and_answers_503_when_none_is_left()
    {
        Tools.Need("haproxy", HaproxyInstall);
        var replicas = await app.WaitForHealthyReplicasAsync("api", 2, Eventually.DefaultPatience);
        var ports = app.ApiReplicaPorts();
        await using var haproxy = await RunningHaproxy.StartAsync(ports, output);
        using var http = AppFixture.UseKey(new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{haproxy.Port}"), Timeout = TimeSpan.FromSeconds(10) }, app.AdminKey);
        var client = new WorkClient(http);

        // Round robin: consecutive submissions are taken by both replicas in turn.
        var takers = new List<string>();
        for (var i = 0; i < 10; i++)
        {
            takers.Add((await client.SubmitAsync("echo", i.ToString())).AcceptedBy);
        }
        output.WriteLine($"accepted_by: {string.Join(", ", takers)}");
        Assert.Equal(2, takers.Distinct().Count());
        Assert.All(takers.Zip(takers.Skip(1)), pair => Assert.NotEqual(pair.First, pair.Second));

        // One replica killed: after two check intervals, no request fails, and all go to the other one.
        var nameAt = new Dictionary<int, string>();
        foreach (var port in ports)
        {
            nameAt[port] = await NameAtAsync(port, app.AdminKey);
        }
        Assert.Equal(takers.Distinct().Order(), nameAt.Values.Order());
        var victim = app.GetProcess(replicas[0]);
        ProcessTree.Signal(victim, 9);
        await ProcessTree.WaitForExitAsync(victim);
        var victimName = nameAt.Single(p => !FreePorts.Listens(p.Key)).Value;
        await Task.Delay(2 * CheckInterval);
        var survivors = new List<string>();
        for (var i = 0; i < 20; i++)
        {
            survivors.Add((await client.SubmitAsync("echo", i.ToString())).AcceptedBy);
        }
        Assert.Equal(takers.Distinct().Single(t => t != victimName), Assert.Single(survivors.Distinct()));

        // None left: HAProxy's own 503, a problem with Retry-After.
        var last = app.GetProcess(replicas[1]);
        ProcessTree.Signal(last, 9);
        await ProcessTree.WaitForExitAsync(last);
        using var response = await client.PostRawAsync("""{"type":"echo","data":1}""");
        var body = await response.Content.ReadAsStringAsync();
        output.WriteLine($"with no replica: {(int)response.StatusCode} {body}");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(TimeSpan.FromSeconds(5), response.Headers.RetryAfter?.Delta);
        Assert.Equal(503, JsonDocument.Parse(body).RootElement.GetProperty("status").GetInt32());
    }

    [SkippableFact]
    public async Task Haproxy_refuses_bad_http_and_answers_a_flood_from_one_address_with_429_problems()
    {
        Tools.Need("haproxy", HaproxyInstall);
        var ports = app.ApiReplicaPorts();
        await using var haproxy = await RunningHaproxy.StartAsync(ports, output);

        // Malformed HTTP: HAProxy's own 400, never forwarded. (Its body is HAProxy's built-in page, not errors/400.http:
        // HAProxy ignores errorfile for errors its HTTP/1 parser finds, haproxy/haproxy#3032, fixed in 3.2.)
        using (var socket = new TcpClient())
        {
            await socket.ConnectAsync("127.0.0.1", haproxy.Port);
            var stream = socket.GetStream();
            await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes("GE T /api/v1/work HTTP/1.1\r\nHost: x\r\n\r\n"));
            var answer = await new StreamReader(stream).ReadToEndAsync();
            output.WriteLine(answer);
            Assert.StartsWith("HTTP/1.1 400", answer);
        }

        // The operators' endpoints without a key: HAProxy's own 401 problem, never forwarded; with a key: forwarded.
        using (var anonymous = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{haproxy.Port}"), Timeout = TimeSpan.FromSeconds(10) })
        {
            foreach (var path in new[] { "/api/v1/cluster", "/api/v1/schedules", "/api/v1/events" })
            {
                using var noKey = await anonymous.GetAsync(path);
                Assert.Equal(HttpStatusCode.Unauthorized, noKey.StatusCode);
                Assert.Equal("application/problem+json", noKey.Content.Headers.ContentType?.MediaType);
                Assert.Equal("Bearer", noKey.Headers.WwwAuthenticate.Single().Scheme);
            }
            using var withKey = new HttpRequestMessage(HttpMethod.Get, "/api/v1/cluster");
            withKey.Headers.Add("X-Api-Key", app.AdminKey);
            using var forwarded = await anonymous.SendAsync(withKey);
            Assert.Equal(HttpStatusCode.OK, forwarded.StatusCode);
        }

        // More than the limit (2,000) from one address in 10 s: 429 problems with Retry-After.
        using var http = AppFixture.UseKey(new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 16 })
        {
            BaseAddress = new Uri($"http://127.0.0.1:{haproxy.Port}"),
            Timeout = TimeSpan.FromSeconds(10),
        }, app.AdminKey);
        var statuses = new System.Collections.Concurrent.ConcurrentBag<int>();
        HttpResponseMessage? refused = null;
        await Parallel.ForEachAsync(Enumerable.Range(0, 2300), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (_, ct) =>
        {
            var response = await http.GetAsync("/health", ct);
            statuses.Add((int)response.StatusCode);
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                Interlocked.CompareExchange(ref refused, response, null);
            }
            else
            {
                response.Dispose();
            }
        });
        output.WriteLine($"2,300 requests from one address: {string.Join(", ", statuses.GroupBy(s => s).OrderBy(g => g.Key).Select(g => $"{g.Key}×{g.Count()}"))}");
        // HAProxy's rate over 10 s is a sliding estimate: about 2,000 pass, the rest are refused.
        Assert.InRange(statuses.Count(s => s == 200), 1900, 2299);
        Assert.Equal(2300, statuses.Count(s => s is 200 or 429));
        Assert.NotNull(refused);
        Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
        Assert.Equal(TimeSpan.FromSeconds(10), refused.Headers.RetryAfter?.Delta);
        refused.Dispose();
    }

    /// <summary>The name the replica listening on <paramref name="port"/> answers with (accepted_by).</summary>
    private static async Task<string> NameAtAsync(int port, string key)
    {
        using var http = AppFixture.UseKey(new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(10) }, key);
        return (await new WorkClient(http).SubmitAsync("echo", "0")).AcceptedBy;
    }


    /// <summary>The loopback ports the AppHost gave the API replicas for the gateway (Replica:Ports).</summary>
    /// <summary>haproxy -db with the committed configuration, rewritten to run here.</summary>
    private sealed partial class RunningHaproxy : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly DirectoryInfo _directory;

        private RunningHaproxy(Process process, DirectoryInfo directory, int port)
        {
            _process = process;
            _directory = directory;
            Port = port;
        }

        public int Port { get; }

        public static async Task<RunningHaproxy> StartAsync(int[] apiPorts, ITestOutputHelper output)
        {
            var (port, statsPort) = (FreePorts.Next(), FreePorts.Next());
            var config = await File.ReadAllTextAsync(Repository.PathOf("haproxy/haproxy.cfg"));
            var servers = string.Join(Environment.NewLine, apiPorts.Select((p, i) => $"    server api-{i} 127.0.0.1:{p} check"));
            config = ServerTemplate().Replace(config, servers);
            config = config.Replace("    bind :80", $"    bind 127.0.0.1:{port}", StringComparison.Ordinal)
                .Replace($"    bind :{8404}", $"    bind 127.0.0.1:{statsPort}", StringComparison.Ordinal);
            Assert.Contains($"server api-1 127.0.0.1:{apiPorts[1]} check", config);

            var directory = Directory.CreateTempSubdirectory("workcluster-haproxy-");
            Directory.CreateDirectory(Path.Combine(directory.FullName, "errors"));
            foreach (var errorFile in Directory.GetFiles(Repository.PathOf("haproxy/errors"), "*.http"))
            {
                File.Copy(errorFile, Path.Combine(directory.FullName, "errors", Path.GetFileName(errorFile)));
            }
            var path = Path.Combine(directory.FullName, "haproxy.cfg");
            await File.WriteAllTextAsync(path, config);

            var start = new ProcessStartInfo("haproxy") { ArgumentList = { "-db", "-f", path }, RedirectStandardOutput = true, RedirectStandardError = true };
            start.Environment["HAPROXY_STATS_PASSWORD"] = "test";
            var process = Process.Start(start)!;
            process.OutputDataReceived += (_, e) => { };
            process.ErrorDataReceived += (_, e) => { if (e.Data is { } line && !line.Contains("GET /health")) output.WriteLine($"haproxy: {line}"); };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();

            await Eventually.HoldsAsync(async () =>
            {
                Assert.False(process.HasExited, "haproxy exited");
                using var socket = new TcpClient();
                try
                {
                    await socket.ConnectAsync("127.0.0.1", port);
                    return true;
                }
                catch (SocketException)
                {
                    return false;
                }
            }, "haproxy never listened", TimeSpan.FromSeconds(10));
            await Task.Delay(2 * CheckInterval); // its first health checks
            return new RunningHaproxy(process, directory, port);
        }

        public async ValueTask DisposeAsync()
        {
            if (!_process.HasExited)
            {
                _process.Kill();
                await ProcessTree.WaitForExitAsync(_process);
            }
            _process.Dispose();
            _directory.Delete(recursive: true);
        }

        [GeneratedRegex(@"^\s*server-template .*$", RegexOptions.Multiline)]
        private static partial Regex ServerTemplate();
    }
}
