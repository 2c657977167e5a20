using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Reflection;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Spectre.Console;
using StackExchange.Redis;

namespace WorkCluster.Bench;

public sealed record HttpBaselineResult(
    int Clients, double Seconds, long Accepted, double AcceptedPerSecond, long Errors, LatencySummary PostResponse,
    double? RedisCpuUsPerJob, double ClientCpuUsPerJob);

/// <summary>
/// The ceiling of the HTTP path on this machine: a minimal Kestrel server of its own process that answers every POST
/// with one LPUSH of the body and a 202, loaded by the same clients as the <c>http</c> scenario. Its client CPU is the
/// server process's.
/// </summary>
public static class HttpBaselineScenario
{
    /// <summary>The hidden scenario the benchmark starts itself with to serve the baseline.</summary>
    public const string ServeArgument = "serve-http-baseline";

    public static async Task<HttpBaselineResult> RunAsync(BenchOptions options, RedisServerProcess store, ProgressContext progress)
    {
        var port = FreePort();
        var key = $"bench:http-baseline:{Guid.NewGuid():N}";
        using var server = StartServer(store.ConnectionString, port, key);
        try
        {
            await using var redis = await ConnectionMultiplexer.ConnectAsync(store.ConnectionString);
            using var http = HttpScenario.NewClient($"http://127.0.0.1:{port}", apiKey: null);
            await WaitUntilServingAsync(http, server);
            var body = HttpScenario.Body(options);
            await HttpScenario.WarmUpAsync(http, body, options, progress, "http-baseline");
            var cpu = await Cpu.StartAsync(redis, store.Pid, () => Cpu.OfProcesses([server.Id]));
            var max = await HttpScenario.MaxRateAsync(http, body, options, progress, "http-baseline", track: false);
            var perJob = await cpu.PerJobAsync(Math.Max(1, max.Accepted));
            await redis.GetDatabase().KeyDeleteAsync(key);
            return new HttpBaselineResult(options.Clients, max.Seconds, max.Accepted, max.AcceptedPerSecond, max.Errors,
                max.PostResponse, perJob.RedisCpuUsPerJob, perJob.ClientCpuUsPerJob);
        }
        finally
        {
            if (!server.HasExited)
            {
                server.Kill();
                await server.WaitForExitAsync();
            }
        }
    }

    /// <summary>The server itself (this process, started with <see cref="ServeArgument"/>): runs until killed.</summary>
    public static async Task ServeAsync(string redisConnection, int port, string key)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        var app = builder.Build();
        var redis = await ConnectionMultiplexer.ConnectAsync(redisConnection);
        var db = redis.GetDatabase();
        app.MapPost("/api/v1/work", async (HttpContext context) =>
        {
            using var buffer = new MemoryStream();
            await context.Request.Body.CopyToAsync(buffer);
            var id = Guid.NewGuid().ToString("N");
            await db.ListLeftPushAsync(key, buffer.ToArray());
            context.Response.StatusCode = StatusCodes.Status202Accepted;
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync($$"""{"id":"{{id}}","callback":"{{id}}"}""");
        });
        await app.RunAsync();
    }

    private static Process StartServer(string redis, int port, string key)
    {
        var self = Assembly.GetEntryAssembly()!.Location;
        var start = new ProcessStartInfo(Environment.ProcessPath!) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        if (Path.GetFileName(Environment.ProcessPath) is "dotnet" or "dotnet.exe")
        {
            start.ArgumentList.Add(self); // run as `dotnet WorkCluster.Bench.dll`, not as its own executable
        }
        foreach (var argument in new[] { ServeArgument, redis, port.ToString(CultureInfo.InvariantCulture), key })
        {
            start.ArgumentList.Add(argument);
        }
        var process = Process.Start(start) ?? throw new InvalidOperationException("The HTTP baseline server did not start.");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, e) => { if (e.Data is { } line) Console.Error.WriteLine($"http-baseline: {line}"); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static async Task WaitUntilServingAsync(HttpClient http, Process server)
    {
        for (var attempt = 0; attempt < 200; attempt++)
        {
            if (server.HasExited)
            {
                throw new InvalidOperationException($"The HTTP baseline server exited with {server.ExitCode}.");
            }
            try
            {
                using var response = await http.GetAsync("/");
                return; // answered (404): serving
            }
            catch (HttpRequestException)
            {
                await Task.Delay(50);
            }
        }
        throw new InvalidOperationException("The HTTP baseline server did not answer within 10 s.");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
