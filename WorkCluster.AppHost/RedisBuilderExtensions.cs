using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Aspire.Hosting;

public static class RedisBuilderExtensions
{
    /// <summary>
    /// The Redis of WorkCluster. Publishing: the Redis container (<c>AddRedis</c>). Running: the local
    /// <c>redis-server</c> executable, unless <c>Redis:Mode</c> is <c>container</c> (needs a container runtime).
    /// </summary>
    public static IResourceBuilder<IResourceWithConnectionString> AddWorkClusterRedis(this IDistributedApplicationBuilder builder, string name)
    {
        var mode = builder.Configuration["Redis:Mode"] ?? "executable";
        if (builder.ExecutionContext.IsPublishMode || mode.Equals("container", StringComparison.OrdinalIgnoreCase))
        {
            return builder.AddRedis(name);
        }
        if (!mode.Equals("executable", StringComparison.OrdinalIgnoreCase))
        {
            throw new DistributedApplicationException($"Redis:Mode must be 'executable' or 'container', not '{mode}'.");
        }

        var dataDirectory = Path.GetFullPath(builder.Configuration["Redis:DataDirectory"] ?? ".data/redis", builder.AppHostDirectory);
        return builder.AddRedisServer(name, dataDirectory);
    }

    /// <summary>
    /// Runs <c>redis-server</c> from PATH: password from a generated secret parameter (written to a 0600 config
    /// file, never on the command line), data (AOF, fsync every second) in <paramref name="dataDirectory"/>,
    /// listening on loopback only, health-checked with PING.
    /// </summary>
    public static IResourceBuilder<RedisServerResource> AddRedisServer(this IDistributedApplicationBuilder builder, string name, string dataDirectory)
    {
        var command = FindOnPath("redis-server") ?? throw new DistributedApplicationException(
            "redis-server was not found on PATH. Install it (Debian/Ubuntu: sudo apt-get install -y redis-server; " +
            "macOS: brew install redis), or set Redis:Mode=container where a container runtime (Docker, Podman) runs.");

        var password = ParameterResourceBuilderExtensions.CreateDefaultPasswordParameter(builder, $"{name}-password", special: false);
        var redis = new RedisServerResource(name, command, builder.AppHostDirectory, password);

        string? connectionString = null;
        builder.Eventing.Subscribe<ConnectionStringAvailableEvent>(redis, async (_, ct) =>
            connectionString = await ((IResourceWithConnectionString)redis).GetConnectionStringAsync(ct));
        var healthCheckKey = $"{name}_check";
        builder.Services.AddHealthChecks().AddRedis(
            _ => connectionString ?? throw new InvalidOperationException($"The connection string of '{name}' is not known yet."),
            name: healthCheckKey);

        return builder.AddResource(redis)
            .WithEndpoint(name: RedisServerResource.PrimaryEndpointName, scheme: "tcp")
            .WithArgs(async context =>
            {
                var configFile = await WriteConfigFileAsync(dataDirectory, await password.GetValueAsync(context.CancellationToken) ?? "",
                    context.CancellationToken);
                context.Args.Add(configFile);
                context.Args.Add("--port");
                context.Args.Add(redis.PrimaryEndpoint.Property(EndpointProperty.TargetPort));
            })
            .WithHealthCheck(healthCheckKey);
    }

    private static async Task<string> WriteConfigFileAsync(string dataDirectory, string password, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(dataDirectory);
        var path = Path.Combine(dataDirectory, "redis.conf");
        string[] lines =
        [
            "# Written by the WorkCluster AppHost at each start; edits are overwritten.",
            "bind 127.0.0.1",
            "protected-mode yes",
            $"requirepass {password}",
            $"dir \"{dataDirectory}\"",
            "appendonly yes",
            "appendfsync everysec",
            "save \"\"",
        ];
        await File.WriteAllLinesAsync(path, lines, cancellationToken);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        return path;
    }

    private static string? FindOnPath(string executable) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(directory => Path.Combine(directory, executable))
            .FirstOrDefault(File.Exists);
}
