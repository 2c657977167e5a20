using WorkCluster.Tests.Infrastructure;
using Xunit.Abstractions;

namespace WorkCluster.Tests.Deployment;

/// <summary>The deployment files are the AppHost model's output, and the real tools accept them.</summary>
public sealed class GeneratedDeploymentTests(ITestOutputHelper output)
{
    public static readonly string[] GeneratedFiles =
    [
        "docker-compose.yml", "haproxy/haproxy.cfg", "haproxy/errors/400.http", "haproxy/errors/401.http", "haproxy/errors/408.http",
        "haproxy/errors/429.http", "haproxy/errors/502.http", "haproxy/errors/503.http", "haproxy/errors/504.http", "redis/users.acl.template",
        ".env.example",
    ];

    /// <summary>Values for the variables .env.example asks for, as an operator's .env would give them.</summary>
    public static Dictionary<string, string> ExampleEnvironment() =>
        File.ReadAllLines(Repository.PathOf(".env.example"))
            .Where(line => line.Length > 0 && !line.StartsWith('#') && line.EndsWith('='))
            .ToDictionary(line => line[..^1], line => $"test-{line[..^1].ToLowerInvariant()}-0123456789");

    /// <summary>An empty .env, so that an operator's own .env in the checkout plays no part.</summary>
    private static string EmptyEnvFile()
    {
        var path = Path.GetTempFileName();
        File.WriteAllText(path, "");
        return path;
    }

    private const string ComposeInstall = "install docker-compose (Debian/Ubuntu: sudo apt-get install -y docker-compose; or Docker Desktop)";

    [Fact]
    public async Task The_committed_deployment_is_exactly_what_the_apphost_generates()
    {
        var generated = Directory.CreateTempSubdirectory("workcluster-deploy-");
        try
        {
            var (exitCode, log) = await Repository.RunAsync("dotnet",
            [
                "run", "--project", Repository.PathOf("WorkCluster.AppHost"), "--no-build", "-c", Repository.Configuration, "--",
                "--operation", "publish", "--step", "deploy-compose", "--output-path", generated.FullName,
            ]);
            Assert.True(exitCode == 0, log);

            foreach (var file in GeneratedFiles)
            {
                var expected = await File.ReadAllTextAsync(Path.Combine(generated.FullName, file));
                var committed = await File.ReadAllTextAsync(Repository.PathOf(file));
                Assert.True(expected == committed, $"{file} differs from the AppHost's output: regenerate it (see docs/deploy.md)");
            }
        }
        finally
        {
            generated.Delete(recursive: true);
        }
    }

    [SkippableFact]
    public async Task The_generated_redis_users_load_in_a_real_redis_server_and_hold()
    {
        Tools.Need("redis-server", "install Redis (Debian/Ubuntu: sudo apt-get install -y redis-server; macOS: brew install redis)");
        // The secret as docs/deploy.md makes it: the template with .env's values put in (envsubst).
        var environment = ExampleEnvironment();
        var acl = System.Text.RegularExpressions.Regex.Replace(await File.ReadAllTextAsync(Repository.PathOf("redis/users.acl.template")),
            @"\$\{(?<name>[A-Z_]+)\}", m => environment[m.Groups["name"].Value]);
        var directory = Directory.CreateTempSubdirectory("workcluster-acl-");
        var aclFile = Path.Combine(directory.FullName, "redis-users.acl");
        await File.WriteAllTextAsync(aclFile, acl);
        var port = FreePorts.Next();
        using var redis = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("redis-server")
        {
            ArgumentList = { "--port", port.ToString(), "--bind", "127.0.0.1", "--dir", directory.FullName, "--save", "", "--aclfile", aclFile,
                "--logfile", Path.Combine(directory.FullName, "redis.log") },
        })!;
        try
        {
            // The compose health check, as it runs there: the healthcheck user, no secret.
            var healthy = false;
            for (var i = 0; i < 50 && !healthy; i++)
            {
                var (_, pong) = await Repository.RunAsync("redis-cli", ["-p", port.ToString(), "--user", "healthcheck", "--pass", "healthcheck", "--no-auth-warning", "ping"]);
                healthy = pong.Trim() == "PONG";
                await Task.Delay(healthy ? 0 : 100);
            }
            Assert.True(healthy, redis.HasExited ? File.ReadAllText(Path.Combine(directory.FullName, "redis.log")) : "no PONG in 5 s");
            var (_, anonymous) = await Repository.RunAsync("redis-cli", ["-p", port.ToString(), "ping"]);
            Assert.StartsWith("NOAUTH", anonymous.Trim()); // the default user is off

            var (_, healthcheckGet) = await Repository.RunAsync("redis-cli",
                ["-p", port.ToString(), "--user", "healthcheck", "--pass", "healthcheck", "--no-auth-warning", "get", "{wc}:jobs"]);
            Assert.StartsWith("NOPERM", healthcheckGet.Trim()); // PING only

            foreach (var (user, variable) in new[] { ("api", "REDIS_API_PASSWORD"), ("worker", "REDIS_WORKER_PASSWORD") })
            {
                var options = StackExchange.Redis.ConfigurationOptions.Parse($"127.0.0.1:{port}");
                (options.User, options.Password, options.AllowAdmin) = (user, environment[variable], true);
                WorkCluster.Redis.RedisHostingExtensions.ConfigureForLeastPrivilege(options);
                await using var connection = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(options);
                var db = connection.GetDatabase();
                Assert.Equal(1L, (long)await db.ScriptEvaluateAsync("return redis.call('HSET', KEYS[1], ARGV[1], 'v')",
                    [(StackExchange.Redis.RedisKey)"{wc}:jobs"], [(StackExchange.Redis.RedisValue)user]));
                foreach (var (command, args) in new (string, object[])[] { ("FLUSHALL", []), ("KEYS", ["*"]), ("ACL", ["LIST"]), ("SET", ["elsewhere", "x"]) })
                {
                    var refused = await Assert.ThrowsAsync<StackExchange.Redis.RedisServerException>(() => db.ExecuteAsync(command, args));
                    Assert.StartsWith("NOPERM", refused.Message);
                }
            }
        }
        finally
        {
            redis.Kill();
            await ProcessTree.WaitForExitAsync(redis);
            directory.Delete(recursive: true);
        }
    }

    [SkippableFact]
    public async Task Haproxy_accepts_the_generated_configuration()
    {
        Tools.Need("haproxy", HaproxyTests.HaproxyInstall);
        var (exitCode, log) = await Repository.RunAsync("haproxy", ["-c", "-f", Repository.PathOf("haproxy/haproxy.cfg")],
            new Dictionary<string, string> { ["HAPROXY_STATS_PASSWORD"] = "test" });

        output.WriteLine(log);
        Assert.True(exitCode == 0, log);
    }

    [SkippableFact]
    public async Task Docker_compose_accepts_the_generated_file()
    {
        Tools.Need("docker-compose", ComposeInstall);
        var (exitCode, log) = await Repository.RunAsync("docker-compose",
            ["--env-file", EmptyEnvFile(), "-f", Repository.PathOf("docker-compose.yml"), "config", "-q"], ExampleEnvironment());

        output.WriteLine(log);
        Assert.True(exitCode == 0, log);
    }

    [SkippableFact]
    public async Task Docker_compose_refuses_to_start_without_the_secrets()
    {
        Tools.Need("docker-compose", ComposeInstall);
        // No .env (an operator's own file in the checkout must not count here).
        var (exitCode, log) = await Repository.RunAsync("docker-compose",
            ["--env-file", EmptyEnvFile(), "-f", Repository.PathOf("docker-compose.yml"), "config", "-q"]);

        Assert.NotEqual(0, exitCode);
        // "... set REDIS_PASSWORD in .env" (or another of the required variables): our own message, not any failure.
        Assert.Matches(@"set (REDIS_PASSWORD|CLUSTER_SECRET|DASHBOARD_\w+) in \.env", log);
    }
}
