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
        return builder.AddRedisServer(name, name == "redis" ? dataDirectory : Path.Combine(dataDirectory, name), memory,
            RedisUsers(builder));
    }

    /// <summary>
    /// Runs <c>redis-server</c> from PATH: the default user's password from a generated secret parameter and the
    /// <paramref name="users"/> with theirs (written to 0600 config and ACL files, never on the command line), data
    /// (AOF, fsync every second) in <paramref name="dataDirectory"/>, <paramref name="memory"/> as its limit,
    /// listening on loopback only, health-checked with PING.
    /// </summary>
    public static IResourceBuilder<RedisServerResource> AddRedisServer(this IDistributedApplicationBuilder builder, string name, string dataDirectory,
        RedisMemoryLimit memory, IReadOnlyList<(string Rule, ParameterResource Password)>? users = null)
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
                var acl = new List<string> { $"user default on >{await password.GetValueAsync(context.CancellationToken)} ~* &* +@all" };
                foreach (var (rule, userPassword) in users ?? [])
                {
                    acl.Add(rule.Replace(PasswordPlaceholder, ">" + await userPassword.GetValueAsync(context.CancellationToken), StringComparison.Ordinal));
                }
                var configFile = await WriteConfigFileAsync(dataDirectory, acl, memory, context.CancellationToken);
                context.Args.Add(configFile);
                context.Args.Add("--port");
                context.Args.Add(redis.PrimaryEndpoint.Property(EndpointProperty.TargetPort));
            })
            .WithHealthCheck(healthCheckKey);
    }

    /// <summary>Stands for a user's password in the rules handed to <see cref="AddRedisServer"/>.</summary>
    public const string PasswordPlaceholder = "<password>";

    /// <summary>WorkCluster's users (<see cref="RedisUser"/>), each with its password parameter.</summary>
    private static (string Rule, ParameterResource Password)[] RedisUsers(IDistributedApplicationBuilder builder) =>
        RedisUser.All.Select(user => (user.AclRule(RedisUser.KeyPrefix(builder.Configuration), PasswordPlaceholder), user.Password(builder).Resource))
            .ToArray();

    private static async Task<string> WriteConfigFileAsync(string dataDirectory, IReadOnlyList<string> users, RedisMemoryLimit memory,
        CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(dataDirectory);
        var aclPath = Path.Combine(dataDirectory, "users.acl");
        await WritePrivateFileAsync(aclPath, users, cancellationToken);
        var path = Path.Combine(dataDirectory, "redis.conf");
        string[] lines =
        [
            "# Written by the WorkCluster AppHost at each start; edits are overwritten.",
            "bind 127.0.0.1",
            "protected-mode yes",
            $"aclfile \"{aclPath}\"",
            $"dir \"{dataDirectory}\"",
            "appendonly yes",
            "appendfsync everysec",
            "save \"\"",
            $"maxmemory {memory.MaxMemory}",
            $"maxmemory-policy {memory.Policy}",
        ];
        await WritePrivateFileAsync(path, lines, cancellationToken);
        return path;
    }

    /// <summary>Writes a file only its owner may read (it holds passwords): created 0600, before any secret is in it.</summary>
    private static async Task WritePrivateFileAsync(string path, IEnumerable<string> lines, CancellationToken cancellationToken)
    {
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }
        await using (var stream = new FileStream(path, options))
        await using (var writer = new StreamWriter(stream))
        {
            foreach (var line in lines)
            {
                await writer.WriteLineAsync(line.AsMemory(), cancellationToken);
            }
        }
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite); // a file that was there keeps its old mode on create
        }
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
