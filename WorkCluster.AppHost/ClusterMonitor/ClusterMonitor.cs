using Aspire.Hosting;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;
using WorkCluster.Cluster;
using WorkCluster.Queue;
using WorkCluster.Redis;

namespace Aspire.Hosting;

/// <summary>
/// Keeps the <c>cluster</c> resource current: every <see cref="Interval"/> it reads the queue's totals and leases from
/// the work store and the live members from the registry's store, and publishes them as the resource's state and
/// properties, with each live worker as a child resource. A store away, or no worker alive: the state says Degraded.
/// </summary>
public sealed partial class ClusterMonitor(ClusterResource cluster, ResourceNotificationService notifications, ILogger logger)
{
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan ReconnectAfter = TimeSpan.FromSeconds(10);
    public const string ParentProperty = "resource.parentName";

    // Every node ever shown, kept: the dashboard knows a resource by its instance, and a node that drops out of the
    // membership (e.g. its key expired during a Redis outage) and comes back must be shown by the same instance.
    private readonly Dictionary<string, ClusterNodeResource> _nodes = new(StringComparer.Ordinal);
    private readonly HashSet<string> _shown = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _publishing = new(1, 1);
    private long _generation;
    private double _jobsPerSecond;
    private (long Worked, long Timestamp)? _last;

    public WorkQueue? Queue { get; private set; }

    /// <summary>
    /// Reads the queue from <paramref name="redis"/> and the membership from <paramref name="registry"/> (the same
    /// resource unless the registry has a store of its own) until <paramref name="cancellationToken"/> is cancelled.
    /// </summary>
    public async Task RunAsync(IResourceWithConnectionString redis, IResourceWithConnectionString registry, ParameterResource? monitorPassword,
        string keyPrefix, QueueOptions queueOptions, IMeterFactory meters, CancellationToken cancellationToken)
    {
        await Publish("Starting", KnownResourceStateStyles.Info, [new("Redis", "waiting")]);
        await notifications.WaitForResourceHealthyAsync(redis.Name, cancellationToken);
        var workOptions = await ConnectionOptionsAsync(redis, monitorPassword, cancellationToken);
        var registryOptions = registry == redis ? null : await ConnectionOptionsAsync(registry, monitorPassword, cancellationToken);
        var keyspace = new RedisKeyspace(keyPrefix);

        ConnectionMultiplexer? connection = null;
        ConnectionMultiplexer? registryConnection = null;
        ClusterRegistry? members = null;
        var failingSince = (long?)null;
        using var timer = new PeriodicTimer(Interval);
        try
        {
            do
            {
                if (connection is null)
                {
                    connection = await ConnectionMultiplexer.ConnectAsync(workOptions);
                    registryConnection = registryOptions is null ? null : await ConnectionMultiplexer.ConnectAsync(registryOptions);
                    Queue = new WorkQueue(connection, new QueueScripts(), new QueueKeys(keyspace), Options.Create(queueOptions), new QueueTelemetry(meters),
                        new StoreCommit(Durability.Acknowledged));
                    members = new ClusterRegistry(registryConnection ?? connection, new ClusterScripts(), new ClusterKeys(keyspace),
                        Options.Create(new ClusterOptions()));
                }

                // A reading not finished within the interval counts as Redis unreachable; it is left to end on its
                // own (its commands time out), and only the newest reading may publish.
                var generation = Interlocked.Increment(ref _generation);
                try
                {
                    await RefreshAsync(Queue!, members!, registryOptions is not null, generation).WaitAsync(Interval, cancellationToken);
                    failingSince = null;
                }
                catch (Exception e) when (!cancellationToken.IsCancellationRequested)
                {
                    // Whatever a reading fails with (Redis gone, timed out, or anything else a dying connection
                    // throws), the monitor goes on and says so: it must never stop and leave a stale state behind.
                    if (e is RedisException or TimeoutException)
                    {
                        LogUnreachable(logger, e.Message);
                    }
                    else
                    {
                        LogReadingFailed(logger, e);
                    }
                    await Publish("Degraded", KnownResourceStateStyles.Warn, [new("Redis", "unreachable"), new("Error", e.Message)]);

                    // Failing for long: start over with new connections rather than trust the old ones to heal
                    // (the "force reconnect" advice for StackExchange.Redis clients).
                    failingSince ??= Stopwatch.GetTimestamp();
                    if (Stopwatch.GetElapsedTime(failingSince.Value) >= ReconnectAfter)
                    {
                        LogReconnecting(logger, ReconnectAfter.TotalSeconds);
                        await DisposeQuietlyAsync(connection);
                        await DisposeQuietlyAsync(registryConnection);
                        connection = registryConnection = null;
                        failingSince = null;
                    }
                }
            }
            while (await timer.WaitForNextTickAsync(cancellationToken));
        }
        finally
        {
            await DisposeQuietlyAsync(connection);
            await DisposeQuietlyAsync(registryConnection);
        }
    }

    /// <summary>How to reach <paramref name="store"/>: as the monitor's own Redis user when it has a password, else as the default user.</summary>
    private static async Task<ConfigurationOptions> ConnectionOptionsAsync(IResourceWithConnectionString store, ParameterResource? monitorPassword,
        CancellationToken cancellationToken)
    {
        var connectionString = await store.ConnectionStringExpression.GetValueAsync(cancellationToken)
            ?? throw new InvalidOperationException($"{store.Name} has no connection string.");
        var options = ConfigurationOptions.Parse(connectionString);
        if (monitorPassword is not null)
        {
            options.User = RedisUser.Monitor.Name;
            options.Password = await monitorPassword.GetValueAsync(cancellationToken);
        }
        RedisHostingExtensions.ConfigureForOutages(options, failFast: true); // a reading that cannot be had says so at once
        return options;
    }

    private static async Task DisposeQuietlyAsync(ConnectionMultiplexer? connection)
    {
        if (connection is null)
        {
            return;
        }
        try
        {
            await connection.DisposeAsync();
        }
        catch (Exception)
        {
            // Closing a broken connection: nothing to do about it.
        }
    }

    private async Task RefreshAsync(WorkQueue queue, ClusterRegistry registry, bool separateRegistry, long generation)
    {
        var stats = await queue.GetStatsAsync();
        var upkeep = await queue.GetMaintenanceAsync();
        IReadOnlyList<NodeInfo> members;
        try
        {
            members = await registry.GetMembersAsync();
        }
        catch (Exception e) when (separateRegistry && e is RedisException or TimeoutException)
        {
            throw new RedisConnectionException(ConnectionFailureType.UnableToConnect, $"The cluster registry's store is unreachable: {e.Message}", e);
        }
        var now = DateTimeOffset.UtcNow;

        await _publishing.WaitAsync();
        try
        {
            if (generation == Interlocked.Read(ref _generation))
            {
                await PublishReadingAsync(stats, upkeep, members, now);
            }
        }
        finally
        {
            _publishing.Release();
        }
    }

    private async Task PublishReadingAsync(QueueStats stats, (DateTimeOffset Now, IReadOnlyList<MaintenanceRun> Runs) upkeep,
        IReadOnlyList<NodeInfo> members, DateTimeOffset now)
    {
        var timestamp = Stopwatch.GetTimestamp();
        if (_last is { } last && stats.Worked >= last.Worked)
        {
            var rate = (stats.Worked - last.Worked) / Stopwatch.GetElapsedTime(last.Timestamp, timestamp).TotalSeconds;
            _jobsPerSecond = 0.5 * _jobsPerSecond + 0.5 * rate; // smoothed over the last few readings
        }
        _last = (stats.Worked, timestamp);

        var (state, style) = members.Count == 0 ? ("Degraded", KnownResourceStateStyles.Warn) : ("Running", KnownResourceStateStyles.Success);
        await Publish(state, style,
        [
            new("Redis", "reachable"),
            new("Live members", members.Count),
            new("Queue depth", stats.Depth),
            new("Scheduled (delayed, retries)", stats.Scheduled),
            new("Dead letter", stats.DeadLetter),
            new("In flight", members.Sum(m => m.InFlight)),
            new("Leases held", stats.Leases),
            new("Leases recovered (total)", stats.Recovered),
            new("Queue data (bytes)", stats.UnfinishedBytes),
            new("Dead letter dropped (total)", stats.DeadLetterDropped),
            new("Worked (total)", stats.Worked),
            new("Failed (total)", stats.Failed),
            new("Cancelled (total)", stats.Cancelled),
            new("Recurring schedules", stats.Schedules),
            new("Jobs per second", Math.Round(_jobsPerSecond, 1).ToString(CultureInfo.InvariantCulture)),
            new("Queue paused", stats.Paused),
            .. upkeep.Runs.Select(run => new ResourcePropertySnapshot($"Upkeep: {run.Duty}", Describe(run, upkeep.Now))),
        ]);

        foreach (var member in members)
        {
            if (!_nodes.TryGetValue(member.Id, out var node))
            {
                _nodes[member.Id] = node = new ClusterNodeResource(member.Id);
            }
            _shown.Add(member.Id);
            await notifications.PublishUpdateAsync(node, s => s with
            {
                ResourceType = member.InMesh ? "Worker node" : $"HTTP worker ({member.Language ?? "unknown language"})",
                State = new ResourceStateSnapshot("Running", KnownResourceStateStyles.Success),
                IsHidden = false,
                Properties =
                [
                    new(ParentProperty, cluster.Name),
                    new("Heartbeat age (ms)", Math.Max(0, (long)(now - member.HeartbeatAt).TotalMilliseconds)),
                    new("In flight", member.InFlight),
                    new("Processed", member.Processed),
                    new("Peers", string.Join(", ", member.Peers)),
                    new("Work types", string.Join(", ", member.WorkTypes)),
                    new("Host", member.Host),
                    new("Process id", member.Pid),
                    new("Mesh address", member.MeshAddress ?? (member.InMesh ? "" : "not a mesh member (HTTP lease protocol)")),
                    new("Language", member.Language ?? (member.InMesh ? ".NET" : "")),
                    new("Started", member.StartedAt.ToString("u", CultureInfo.InvariantCulture)),
                ],
            });
        }
        foreach (var gone in _shown.Except(members.Select(m => m.Id)).ToArray())
        {
            await notifications.PublishUpdateAsync(_nodes[gone], s => s with
            {
                State = new ResourceStateSnapshot("Gone", KnownResourceStateStyles.Info),
                IsHidden = true,
            });
            _shown.Remove(gone);
        }
    }

    /// <summary>How an upkeep duty's last recorded run went: <c>ok 0.3 s ago (api-x, 2 ms)</c>, or <c>failed ...: the error</c>.</summary>
    internal static string Describe(MaintenanceRun run, DateTimeOffset storeNow)
    {
        var ago = Math.Max(0, (storeNow.ToUnixTimeMilliseconds() - run.At) / 1000.0).ToString("0.0", CultureInfo.InvariantCulture);
        var how = $"{(run.Ok ? "ok" : "failed")} {ago} s ago ({run.Runner}, {run.TookMs} ms)";
        return run.Ok ? how : $"{how}: {run.Error}";
    }

    private Task Publish(string state, string style, ResourcePropertySnapshot[] properties) =>
        notifications.PublishUpdateAsync(cluster, s => s with
        {
            State = new ResourceStateSnapshot(state, style),
            Properties = [.. properties],
        });

    [LoggerMessage(LogLevel.Warning, "Cluster monitor: Redis unreachable: {Message}")]
    private static partial void LogUnreachable(ILogger logger, string message);

    [LoggerMessage(LogLevel.Warning, "Cluster monitor: readings have failed for {Seconds} s; opening a new connection to Redis")]
    private static partial void LogReconnecting(ILogger logger, double seconds);

    [LoggerMessage(LogLevel.Error, "Cluster monitor: reading the cluster failed")]
    private static partial void LogReadingFailed(ILogger logger, Exception exception);
}
