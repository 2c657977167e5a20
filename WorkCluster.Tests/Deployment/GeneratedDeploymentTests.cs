using WorkCluster.Tests.Infrastructure;
using Xunit.Abstractions;

namespace WorkCluster.Tests.Deployment;

/// <summary>The deployment files are the AppHost model's output, and the real tools accept them.</summary>
public sealed class GeneratedDeploymentTests(ITestOutputHelper output)
{
    public static readonly string[] GeneratedFiles =
    [
        "docker-compose.yml", "haproxy/haproxy.cfg", "haproxy/errors/400.http", "haproxy/errors/408.http", "haproxy/errors/429.http",
        "haproxy/errors/502.http", "haproxy/errors/503.http", "haproxy/errors/504.http", ".env.example",
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

    [Fact]
    public async Task Haproxy_accepts_the_generated_configuration()
    {
        var (exitCode, log) = await Repository.RunAsync("haproxy", ["-c", "-f", Repository.PathOf("haproxy/haproxy.cfg")],
            new Dictionary<string, string> { ["HAPROXY_STATS_PASSWORD"] = "test" });

        output.WriteLine(log);
        Assert.True(exitCode == 0, log);
    }

    [Fact]
    public async Task Docker_compose_accepts_the_generated_file()
    {
        var (exitCode, log) = await Repository.RunAsync("docker-compose",
            ["--env-file", EmptyEnvFile(), "-f", Repository.PathOf("docker-compose.yml"), "config", "-q"], ExampleEnvironment());

        output.WriteLine(log);
        Assert.True(exitCode == 0, log);
    }

    [Fact]
    public async Task Docker_compose_refuses_to_start_without_the_secrets()
    {
        // No .env (an operator's own file in the checkout must not count here).
        var (exitCode, log) = await Repository.RunAsync("docker-compose",
            ["--env-file", EmptyEnvFile(), "-f", Repository.PathOf("docker-compose.yml"), "config", "-q"]);

        Assert.NotEqual(0, exitCode);
        // "... set REDIS_PASSWORD in .env" (or another of the required variables): our own message, not any failure.
        Assert.Matches(@"set (REDIS_PASSWORD|CLUSTER_SECRET|DASHBOARD_\w+) in \.env", log);
    }
}
