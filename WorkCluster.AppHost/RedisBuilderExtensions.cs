using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Aspire.Hosting;

public static class RedisBuilderExtensions
{
    /// <summary>
    /// A Redis of WorkCluster: the work store (<c>redis</c>), or the cluster registry's own store. Publishing: the Redis
    /// container (<c>AddRedis</c>). Running: the local <c>redis-server</c> executable, unless <c>Redis:Mode</c> is
    /// <c>container</c> (needs a container runtime). Either way it runs with <c>Redis:MaxMemory</c> and
    /// <c>Redis:MaxMemoryPolicy</c> (see <see cref="RedisMemoryLimit"/>).
    /// </summary>
    public static IResourceBuilder<IResourceWithConnectionString> AddWorkClusterRedis(this IDistributedApplicationBuilder builder, string name)
    {
        var mode = builder.Configuration["Redis:Mode"] ?? "executable";
        var memory = RedisMemoryLimit.From(builder.Configuration);
        if (builder.ExecutionContext.IsPublishMode || mode.Equals("container", StringComparison.OrdinalIgnoreCase))
        {
            return builder.AddRedis(name).WithArgs("--maxmemory", memory.MaxMemory, "--maxmemory-policy", memory.Policy);
        }
        if (!mode.Equals("executable", StringComparison.OrdinalIgnoreCase))
        {
            throw new DistributedApplicationException($"Redis:Mode must be 'executable' or 'container', not '{mode}'.");
        }

        // The work store's data in Redis:DataDirectory, any other store's in a folder of its own inside it.
        var dataDirectory = Path.GetFullPath(builder.Configuration["Redis:DataDirectory"] ?? ".data/redis", builder.AppHostDirectory);
        return builder.AddRedisServer(name, name == "redis" ? dataDirectory : Path.Combine(dataDirectory, name), memory);
    }

    /// <summary>
    /// Runs <c>redis-server</c> from PATH: password from a generated secret parameter (written to a 0600 config
    /// file, never on the command line), data (AOF, fsync every second) in <paramref name="dataDirectory"/>,
    /// <paramref name="memory"/> as its limit, listening on loopback only, health-checked with PING.
    /// </summary>
    public static IResourceBuilder<RedisServerResource> AddRedisServer(this IDistributedApplicationBuilder builder, string name, string dataDirectory,
        RedisMemoryLimit memory)
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
                    memory, context.CancellationToken);
                context.Args.Add(configFile);
                context.Args.Add("--port");
                context.Args.Add(redis.PrimaryEndpoint.Property(EndpointProperty.TargetPort));
            })
            .WithHealthCheck(healthCheckKey);
    }

    private static async Task<string> WriteConfigFileAsync(string dataDirectory, string password, RedisMemoryLimit memory,
        CancellationToken cancellationToken)
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
            $"maxmemory {memory.MaxMemory}",
            $"maxmemory-policy {memory.Policy}",
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

/// <summary>
/// How much memory a Redis of WorkCluster may use (<c>Redis:MaxMemory</c>, default <c>1gb</c>) and what it does at
/// the limit (<c>Redis:MaxMemoryPolicy</c>, default <c>noeviction</c>: refuse new writes rather than evict a job).
/// At the limit the API answers 503 to new work while workers drain (their scripts may run under the limit), and
/// the queue's own budgets (<c>Work:MaxQueueBytes</c>, <c>Work:MaxFailedBytes</c>) keep it from getting there.
/// </summary>
public sealed record RedisMemoryLimit(string MaxMemory, string Policy)
{
    private static readonly string[] Policies =
        ["noeviction", "allkeys-lru", "allkeys-lfu", "allkeys-random", "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl"];

    public static RedisMemoryLimit From(IConfiguration configuration)
    {
        var maxMemory = configuration["Redis:MaxMemory"] ?? "1gb";
        var policy = configuration["Redis:MaxMemoryPolicy"] ?? "noeviction";
        if (!System.Text.RegularExpressions.Regex.IsMatch(maxMemory, "^[0-9]+(b|kb|mb|gb|k|m|g)?$", System.Text.RegularExpressions.RegexOptions.IgnoreCase))
        {
            throw new DistributedApplicationException($"Redis:MaxMemory must be a size such as 512mb or 2gb, not '{maxMemory}'.");
        }
        if (!Policies.Contains(policy))
        {
            throw new DistributedApplicationException($"Redis:MaxMemoryPolicy must be one of {string.Join(", ", Policies)}, not '{policy}'.");
        }
        return new RedisMemoryLimit(maxMemory.ToLowerInvariant(), policy);
    }
}
