using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using WorkCluster.Redis;

namespace Aspire.Hosting;

public static class RedisBuilderExtensions
{
    /// <summary>
    /// A Redis of WorkCluster: the work store (<c>redis</c>), or the cluster registry's own store. Publishing: the Redis
    /// container (<c>AddRedis</c>). Running: by <c>Redis:Mode</c>, <c>auto</c> by default (see <see cref="ChooseStore"/>):
    /// the local <c>redis-server</c> executable, the Redis container, or the embedded Garnet store. Each runs with
    /// <c>Redis:MaxMemory</c> (and redis-server and the container with <c>Redis:MaxMemoryPolicy</c>, see <see cref="RedisMemoryLimit"/>).
    /// </summary>
    public static IResourceBuilder<IResourceWithConnectionString> AddWorkClusterRedis(this IDistributedApplicationBuilder builder, string name)
    {
        var memory = RedisMemoryLimit.From(builder.Configuration);
        var (mode, why) = builder.ExecutionContext.IsPublishMode ? ("container", "publishing") : ChooseStore(builder.Configuration["Redis:Mode"]);
        LogStore(builder, name, mode, why);
        if (mode == "container")
        {
            return builder.AddRedis(name).WithArgs("--maxmemory", memory.MaxMemory, "--maxmemory-policy", memory.Policy,
                "--appendonly", "yes", "--appendfsync", StoreArguments.AppendFsync(StoreDurabilitySetting.From(builder.Configuration)));
        }

        // The work store's data in Redis:DataDirectory, any other store's in a folder of its own inside it.
        var dataDirectory = Path.GetFullPath(builder.Configuration["Redis:DataDirectory"] ?? ".data/redis", builder.AppHostDirectory);
        var storeDirectory = name == "redis" ? dataDirectory : Path.Combine(dataDirectory, name);
        return mode == "garnet"
            ? builder.AddGarnetStore(name, Path.Combine(storeDirectory, "garnet"), memory)
            : builder.AddRedisServer(name, storeDirectory, memory, StoreDurabilitySetting.From(builder.Configuration), RedisUsers(builder));
    }

    /// <summary>
    /// The store to run, and why: <c>Redis:Mode</c> <c>executable</c>, <c>container</c> or <c>garnet</c> as asked; <c>auto</c>
    /// (or unset): redis-server when it is on the PATH, else the Redis container when a container runtime answers, else
    /// the embedded Garnet store (a machine with only the .NET SDK).
    /// </summary>
    public static (string Mode, string Why) ChooseStore(string? configured) =>
        s_choices.GetOrAdd((configured ?? "auto").ToLowerInvariant(), Choose); // once per AppHost: every store the same

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, (string, string)> s_choices = new();

    private static (string Mode, string Why) Choose(string mode)
    {
        var configured = mode;
        switch (mode)
        {
            case "executable" or "container" or "garnet":
                return (mode, $"Redis:Mode={mode}");
            case "auto":
                if (FindOnPath("redis-server") is { } redisServer)
                {
                    return ("executable", $"Redis:Mode=auto, and redis-server is at {redisServer}");
                }
                if (ContainerRuntimeAnswers() is { } runtime)
                {
                    return ("container", $"Redis:Mode=auto, no redis-server on the PATH, and {runtime} answers");
                }
                return ("garnet", "Redis:Mode=auto, no redis-server on the PATH and no container runtime");
            default:
                throw new DistributedApplicationException($"Redis:Mode must be auto, executable, container or garnet, not '{configured}'.");
        }
    }

    /// <summary>The container runtime (docker or podman) whose engine answers within 5 s, or null: a client alone is not enough.</summary>
    private static string? ContainerRuntimeAnswers()
    {
        foreach (var runtime in new[] { "docker", "podman" })
        {
            if (FindOnPath(runtime) is null)
            {
                continue;
            }
            try
            {
                using var process = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo(runtime, "info")
                {
                    RedirectStandardOutput = true,
                    RedirectStandardError = true,
                })!;
                process.StandardOutput.ReadToEndAsync();
                process.StandardError.ReadToEndAsync();
                if (process.WaitForExit(5000) && process.ExitCode == 0)
                {
                    return runtime;
                }
                if (!process.HasExited)
                {
                    process.Kill();
                }
            }
            catch (System.ComponentModel.Win32Exception)
            {
                // Not runnable: as good as absent.
            }
        }
        return null;
    }

    /// <summary>Says which store runs and why: in the AppHost's log, and on the resource in the dashboard (property "Store").</summary>
    private static void LogStore(IDistributedApplicationBuilder builder, string name, string mode, string why)
    {
        var store = mode switch { "executable" => "redis-server", "container" => "the Redis container", _ => "Garnet (embedded, WorkCluster.Store)" };
        builder.Eventing.Subscribe<BeforeStartEvent>((e, _) =>
        {
            e.Services.GetRequiredService<Microsoft.Extensions.Logging.ILoggerFactory>().CreateLogger("WorkCluster.AppHost.Store")
                .LogInformation("Store '{Name}': {Store} ({Why})", name, store, why);
            return Task.CompletedTask;
        });
        builder.Eventing.Subscribe<ResourceEndpointsAllocatedEvent>(async (e, _) =>
        {
            if (e.Resource.Name == name)
            {
                await e.Services.GetRequiredService<ResourceNotificationService>().PublishUpdateAsync(e.Resource, s => s with
                {
                    Properties = [.. s.Properties.Where(p => p.Name != "workcluster.store"), new ResourcePropertySnapshot("workcluster.store", $"{store}: {why}") { DisplayName = "Store" }],
                });
            }
        });
    }

    /// <summary>
    /// Runs the embedded store, Garnet (<c>WorkCluster.Store</c>, built with the AppHost), as its own process: the same
    /// name, connection string, password (in a 0600 config file, never on the command line), health check and
    /// start/stop/restart as <see cref="AddRedisServer"/>; its data (the append-only file, replayed at
    /// start) in <paramref name="dataDirectory"/>; Lua scripts run as transactions (without it, read-then-write scripts
    /// lose updates); records beyond <paramref name="memory"/> spill to disk (Garnet's storage tier) rather than being
    /// dropped. No Redis users: it runs with its default user.
    /// </summary>
    public static IResourceBuilder<RedisServerResource> AddGarnetStore(this IDistributedApplicationBuilder builder, string name, string dataDirectory,
        RedisMemoryLimit memory)
    {
        var projectDirectory = Path.GetDirectoryName(new Projects.WorkCluster_Store().ProjectPath)!;
        var configuration = typeof(RedisServerResource).Assembly
            .GetCustomAttributes(typeof(System.Reflection.AssemblyConfigurationAttribute), false)
            .OfType<System.Reflection.AssemblyConfigurationAttribute>().FirstOrDefault()?.Configuration ?? "Debug";
        var assembly = Path.Combine(projectDirectory, "bin", configuration, "net10.0", "WorkCluster.Store.dll");
        if (!File.Exists(assembly))
        {
            throw new DistributedApplicationException($"The embedded store is not built ({assembly}): build the solution first.");
        }

        var password = ParameterResourceBuilderExtensions.CreateDefaultPasswordParameter(builder, $"{name}-password", special: false);
        var store = new RedisServerResource(name, "dotnet", builder.AppHostDirectory, password, hasUsers: false);
        var resource = builder.AddResource(store)
            .WithEndpoint(name: RedisServerResource.PrimaryEndpointName, scheme: "tcp")
            .WithArgs(async context =>
            {
                Directory.CreateDirectory(dataDirectory);
                var configFile = Path.Combine(dataDirectory, "garnet.conf");
                var settings = System.Text.Json.JsonSerializer.Serialize(new Dictionary<string, string>
                {
                    ["AuthenticationMode"] = "Password",
                    ["Password"] = await password.GetValueAsync(context.CancellationToken) ?? "",
                });
                await WritePrivateFileAsync(configFile, [settings], context.CancellationToken);
                foreach (var arg in new object[]
                {
                    assembly, "--config-import-path", configFile, "--bind", "127.0.0.1", "--port", store.PrimaryEndpoint.Property(EndpointProperty.TargetPort),
                    "--storage-tier", "--logdir", Path.Combine(dataDirectory, "log"), "-m", memory.GarnetMemory, "-p", memory.GarnetPage,
                    // A checkpoint whenever the append-only file passes 128 MB (then the file starts over), and the spilled
                    // log compacted every 5 minutes: neither grows without bound, and a restart replays little.
                    "--aof-size-limit", "128m", "--compaction-freq", "300", "--compaction-type", "Lookup",
                }.Concat(StoreArguments.GarnetPersistence(dataDirectory)))
                {
                    context.Args.Add(arg);
                }
            });
        return resource.WithRedisHealthCheck(store);
    }

    /// <summary>
    /// Runs <c>redis-server</c> from PATH: the default user's password from a generated secret parameter and the
    /// <paramref name="users"/> with theirs (written to 0600 config and ACL files, never on the command line), data
    /// (the append-only file, fsynced before every reply or every second by <paramref name="durability"/>) in
    /// <paramref name="dataDirectory"/>, <paramref name="memory"/> as its limit, listening on loopback only,
    /// health-checked with PING.
    /// </summary>
    public static IResourceBuilder<RedisServerResource> AddRedisServer(this IDistributedApplicationBuilder builder, string name, string dataDirectory,
        RedisMemoryLimit memory, Durability durability, IReadOnlyList<(string Rule, ParameterResource Password)>? users = null)
    {
        var command = FindOnPath("redis-server") ?? throw new DistributedApplicationException(
            "redis-server was not found on PATH. Install it (Debian/Ubuntu: sudo apt-get install -y redis-server; " +
            "macOS: brew install redis), or set Redis:Mode=garnet (the embedded store), container (where a container runtime runs) or auto.");

        var password = ParameterResourceBuilderExtensions.CreateDefaultPasswordParameter(builder, $"{name}-password", special: false);
        var redis = new RedisServerResource(name, command, builder.AppHostDirectory, password);

        return builder.AddResource(redis)
            .WithEndpoint(name: RedisServerResource.PrimaryEndpointName, scheme: "tcp")
            .WithArgs(async context =>
            {
                var acl = new List<string> { $"user default on >{await password.GetValueAsync(context.CancellationToken)} ~* &* +@all" };
                foreach (var (rule, userPassword) in users ?? [])
                {
                    acl.Add(rule.Replace(PasswordPlaceholder, ">" + await userPassword.GetValueAsync(context.CancellationToken), StringComparison.Ordinal));
                }
                var configFile = await WriteConfigFileAsync(dataDirectory, acl, memory, durability, context.CancellationToken);
                context.Args.Add(configFile);
                context.Args.Add("--port");
                context.Args.Add(redis.PrimaryEndpoint.Property(EndpointProperty.TargetPort));
            })
            .WithRedisHealthCheck(redis);
    }

    /// <summary>Healthy once the store answers PING with its password (the same check for redis-server and Garnet).</summary>
    private static IResourceBuilder<RedisServerResource> WithRedisHealthCheck(this IResourceBuilder<RedisServerResource> resource, RedisServerResource store)
    {
        var builder = resource.ApplicationBuilder;
        string? connectionString = null;
        builder.Eventing.Subscribe<ConnectionStringAvailableEvent>(store, async (_, ct) =>
            connectionString = await ((IResourceWithConnectionString)store).GetConnectionStringAsync(ct));
        var healthCheckKey = $"{store.Name}_check";
        builder.Services.AddHealthChecks().AddRedis(
            _ => connectionString ?? throw new InvalidOperationException($"The connection string of '{store.Name}' is not known yet."),
            name: healthCheckKey);
        return resource.WithHealthCheck(healthCheckKey);
    }

    /// <summary>Stands for a user's password in the rules handed to <see cref="AddRedisServer"/>.</summary>
    public const string PasswordPlaceholder = "<password>";

    /// <summary>WorkCluster's users (<see cref="RedisUser"/>), each with its password parameter.</summary>
    private static (string Rule, ParameterResource Password)[] RedisUsers(IDistributedApplicationBuilder builder) =>
        RedisUser.All.Select(user => (user.AclRule(RedisUser.KeyPrefix(builder.Configuration), PasswordPlaceholder), user.Password(builder).Resource))
            .ToArray();

    private static async Task<string> WriteConfigFileAsync(string dataDirectory, IReadOnlyList<string> users, RedisMemoryLimit memory,
        Durability durability, CancellationToken cancellationToken)
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
            $"appendfsync {StoreArguments.AppendFsync(durability)}",
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

    private static string? FindOnPath(string executable) => ExecutablePath.Find(executable);
}

/// <summary>Where an executable is on the PATH.</summary>
internal static class ExecutablePath
{
    public static string? Find(string executable) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(directory => Path.Combine(directory, executable))
            .FirstOrDefault(File.Exists);
}

/// <summary>
/// How much memory a Redis of WorkCluster may use (<c>Redis:MaxMemory</c>, default <c>1gb</c>) and what it does at
/// the limit (<c>Redis:MaxMemoryPolicy</c>: <c>noeviction</c>, the only policy allowed: refuse new writes rather than
/// evict a job). At the limit the API answers 503 to new work while workers drain (their scripts may run under the
/// limit), and the queue's own budgets (<c>Work:MaxQueueBytes</c>, <c>Work:MaxFailedBytes</c>,
/// <c>Work:MaxResultsBytes</c>) keep it from getting there.
/// </summary>
public sealed record RedisMemoryLimit(string MaxMemory, string Policy)
{
    public const string NoEviction = "noeviction";

    public static RedisMemoryLimit From(IConfiguration configuration)
    {
        var maxMemory = configuration["Redis:MaxMemory"] ?? "1gb";
        var policy = configuration["Redis:MaxMemoryPolicy"] ?? NoEviction;
        if (!System.Text.RegularExpressions.Regex.IsMatch(maxMemory, "^[0-9]+(b|kb|mb|gb|k|m|g)?$", System.Text.RegularExpressions.RegexOptions.IgnoreCase))
        {
            throw new DistributedApplicationException($"Redis:MaxMemory must be a size such as 512mb or 2gb, not '{maxMemory}'.");
        }
        if (policy != NoEviction)
        {
            throw new DistributedApplicationException($"Redis:MaxMemoryPolicy must be {NoEviction}, not '{policy}': any other policy lets " +
                "Redis evict keys at its memory limit, and a job's record, its place in the queue or its lease would go without a trace.");
        }
        return new RedisMemoryLimit(maxMemory.ToLowerInvariant(), policy);
    }

    /// <summary>The limit in bytes.</summary>
    public long Bytes
    {
        get
        {
            var match = System.Text.RegularExpressions.Regex.Match(MaxMemory, "^(?<n>[0-9]+)(?<unit>b|kb|mb|gb|k|m|g)?$");
            return long.Parse(match.Groups["n"].Value, System.Globalization.CultureInfo.InvariantCulture) * match.Groups["unit"].Value switch
            {
                "k" => 1000L, "kb" => 1024L, "m" => 1000L * 1000, "mb" => 1024L * 1024, "g" => 1000L * 1000 * 1000, "gb" => 1024L * 1024 * 1024, _ => 1L,
            };
        }
    }

    /// <summary>The embedded store's in-memory log size, in bytes (Garnet reads k, m and g as powers of 1024; Redis does not).</summary>
    public string GarnetMemory => Bytes.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// The embedded store's log page, in bytes: the largest power of two at most a sixteenth of the limit (Garnet needs
    /// four pages at least), from 512 bytes to 16 MB (its append-only file's pages, 32 MB, must hold two).
    /// </summary>
    public string GarnetPage
    {
        get
        {
            var page = (long)System.Numerics.BitOperations.RoundUpToPowerOf2((ulong)Math.Max(1, Bytes / 16) + 1) / 2;
            return Math.Clamp(page, 512, 16L * 1024 * 1024).ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
    }

}

/// <summary>
/// <c>Redis:Durability</c> (<c>acknowledged</c>, the default, or <c>fast</c>; see <see cref="Durability"/>): how the AppHost
/// runs the stores (redis-server's <c>appendfsync</c>) and what it tells the services (<c>Redis__Durability</c>: on Garnet
/// they commit its append-only file after every durable write).
/// </summary>
public static class StoreDurabilitySetting
{
    public static Durability From(IConfiguration configuration) => configuration["Redis:Durability"]?.ToLowerInvariant() switch
    {
        null or "acknowledged" => Durability.Acknowledged,
        "fast" => Durability.Fast,
        var other => throw new DistributedApplicationException($"Redis:Durability must be acknowledged or fast, not '{other}'."),
    };
}
