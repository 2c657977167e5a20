using System.Diagnostics.Metrics;
using System.Text.Json;
using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Aspire.Hosting;

public static class ClusterMonitorExtensions
{
    public const string PauseCommand = "pause-queue";
    public const string ResumeCommand = "resume-queue";
    public const string CancelJobCommand = "cancel-job";
    public const string CancelJobIdArgument = "id";
    public const string PingCommand = "ping-mesh";
    public const string RequeueFailedCommand = "requeue-failed";

    /// <summary>
    /// The dashboard's view of the cluster: a resource that shows membership, queue depth, in-flight, totals and
    /// jobs per second, with each live worker as a child, and commands to pause and resume the queue, ping the mesh
    /// and requeue the dead letter; and a link to the live stream of the cluster's events through <paramref name="gateway"/>.
    /// Run mode only.
    /// </summary>
    public static IResourceBuilder<ClusterResource> AddClusterMonitor(this IDistributedApplicationBuilder builder, string name,
        IResourceBuilder<IResourceWithConnectionString> redis, IResourceBuilder<IResourceWithConnectionString> registry,
        IResourceBuilder<ProjectResource> api, IResourceBuilder<ProjectResource> gateway, IResourceBuilder<ParameterResource> adminKey)
    {
        var cluster = new ClusterResource(name);
        ClusterMonitor? monitor = null;
        var keyPrefix = RedisUser.KeyPrefix(builder.Configuration);
        // The monitor connects as a Redis user of its own (RedisUser.Monitor) wherever the store has WorkCluster's users.
        var monitorPassword = RedisUser.HasUsers(builder, redis.Resource) ? RedisUser.Monitor.Password(builder).Resource : null;
        // The queue's settings as the services get them (its budgets bound the requeue command).
        var queueOptions = builder.Configuration.GetSection(WorkCluster.Queue.QueueOptions.SectionName).Get<WorkCluster.Queue.QueueOptions>()
            ?? new WorkCluster.Queue.QueueOptions();

        // A command that acts on the queue, once the monitor has connected to Redis.
        Func<ExecuteCommandContext, Task<ExecuteCommandResult>> OnQueue(Func<WorkCluster.Queue.WorkQueue, Task<string>> act) => async _ =>
            monitor?.Queue is { } queue
                ? CommandResults.Success(await act(queue))
                : CommandResults.Failure("The cluster monitor is not connected to Redis yet.");

        // The dashboard links the cluster to its live events (GET /api/v1/events, server-sent events) once the gateway has its port.
        builder.Eventing.Subscribe<ResourceEndpointsAllocatedEvent>(gateway.Resource, async (e, _) =>
        {
            var events = $"{gateway.Resource.GetEndpoint("http").Url}/api/v1/events";
            await e.Services.GetRequiredService<ResourceNotificationService>().PublishUpdateAsync(cluster, s => s with
            {
                Urls = [new UrlSnapshot("events", events, IsInternal: false) { DisplayProperties = new UrlDisplayPropertiesSnapshot("Live events", 0) }],
            });
        });

        var resource = builder.AddResource(cluster)
            .ExcludeFromManifest()
            .WithRelationship(redis.Resource, "Reference")
            .WithRelationship(api.Resource, "Reference")
            .WithInitialState(new CustomResourceSnapshot
            {
                ResourceType = "Cluster",
                State = KnownResourceStates.NotStarted,
                Properties = [],
            })
            .OnInitializeResource(async (resource, e, cancellationToken) =>
            {
                monitor = new ClusterMonitor(resource, e.Notifications, e.Logger);
                try
                {
                    await monitor.RunAsync(redis.Resource, registry.Resource, monitorPassword, keyPrefix, queueOptions, e.Services.GetRequiredService<IMeterFactory>(), cancellationToken);
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                }
                catch (Exception ex)
                {
                    // Never silently: a monitor that stopped must not leave its last state standing.
                    e.Logger.LogError(ex, "The cluster monitor stopped");
                    await e.Notifications.PublishUpdateAsync(resource, s => s with
                    {
                        State = new ResourceStateSnapshot("Monitor stopped", KnownResourceStateStyles.Error),
                    });
                }
            })
            .WithCommand(PauseCommand, "Pause queue", OnQueue(async queue =>
            {
                await queue.PauseAsync();
                return "Workers stop claiming; submissions stay open.";
            }), new CommandOptions
            {
                Description = "Workers finish what they hold and claim nothing more; POST /api/v1/work still accepts work.",
                IconName = "Pause",
                UpdateState = c => IsPaused(c) ? ResourceCommandState.Disabled : ResourceCommandState.Enabled,
            })
            .WithCommand(ResumeCommand, "Resume queue", OnQueue(async queue =>
            {
                await queue.ResumeAsync();
                return "Workers claim again.";
            }), new CommandOptions
            {
                IconName = "Play",
                UpdateState = c => IsPaused(c) ? ResourceCommandState.Enabled : ResourceCommandState.Disabled,
            })
            .WithCommand(PingCommand, "Ping mesh",
                c => CallApiAsync(api, adminKey, HttpMethod.Post, "/api/v1/cluster/ping", DescribePing, c.CancellationToken), new CommandOptions
            {
                Description = "Asks a worker to ping every peer over the mesh and shows the round-trip times.",
                IconName = "PlugConnected",
            })
            .WithCommand(CancelJobCommand, "Cancel job", async c =>
            {
                var id = c.Arguments?[CancelJobIdArgument].Value?.Trim();
                if (string.IsNullOrEmpty(id))
                {
                    return CommandResults.Failure("Give the id of the job to cancel.");
                }
                // Through the API, so that the worker running the job is told at once over the mesh.
                return await CallApiAsync(api, adminKey, HttpMethod.Delete, $"/api/v1/work/{Uri.EscapeDataString(id)}", DescribeCancellation, c.CancellationToken);
            }, new CommandOptions
            {
                Description = "Cancels a job by id: waiting work never starts; running work's worker is told to stop it.",
                IconName = "DismissCircle",
                Arguments = [new InteractionInput { Name = CancelJobIdArgument, Label = "Job id", InputType = InputType.Text, Required = true }],
            })
            .WithCommand(RequeueFailedCommand, "Requeue failed", OnQueue(async queue =>
                $"{await queue.RequeueAllFailedAsync()} failed jobs went back to the queue with their attempts reset."), new CommandOptions
            {
                Description = "Sends every job in the dead letter back to the queue.",
                ConfirmationMessage = "Requeue every failed job?",
                IconName = "ArrowRepeatAll",
            });
        return registry == redis ? resource : resource.WithRelationship(registry.Resource, "Reference");
    }

    private static bool IsPaused(UpdateCommandStateContext context) =>
        context.ResourceSnapshot.Properties.FirstOrDefault(p => p.Name == "Queue paused")?.Value is true;

    private static string DescribePing(string body)
    {
        using var reply = JsonDocument.Parse(body);
        var node = reply.RootElement.GetProperty("node").GetString();
        var peers = reply.RootElement.GetProperty("peers").EnumerateArray().Select(p =>
            $"{p.GetProperty("node").GetString()}: " +
            (p.TryGetProperty("rtt_ms", out var rtt) && rtt.ValueKind == JsonValueKind.Number ? $"{rtt.GetDouble():F2} ms" : "no answer"));
        return $"{node} → {string.Join("; ", peers)}";
    }

    /// <summary>Calls the API (one of its replicas, through the orchestrator's endpoint) and describes its answer.</summary>
    private static async Task<ExecuteCommandResult> CallApiAsync(IResourceBuilder<ProjectResource> api, IResourceBuilder<ParameterResource> adminKey,
        HttpMethod method, string path, Func<string, string> describe, CancellationToken cancellationToken)
    {
        using var http = new HttpClient { BaseAddress = new Uri(api.GetEndpoint("http").Url), Timeout = TimeSpan.FromSeconds(30) };
        using var request = new HttpRequestMessage(method, path);
        // The dashboard's commands act as the operators: with the admin key.
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer",
            await adminKey.Resource.GetValueAsync(cancellationToken));
        using var response = await http.SendAsync(request, cancellationToken);
        var body = await response.Content.ReadAsStringAsync(cancellationToken);
        return response.IsSuccessStatusCode
            ? CommandResults.Success(describe(body))
            : CommandResults.Failure($"{(int)response.StatusCode}: {DescribeProblem(body)}");
    }

    private static string DescribeCancellation(string body)
    {
        using var reply = JsonDocument.Parse(body);
        var root = reply.RootElement;
        var id = root.GetProperty("id").GetString();
        return root.GetProperty("status").GetString() == "cancelled"
            ? $"Job {id} cancelled: it will never start."
            : $"Job {id} is cancelling: {root.GetProperty("worker").GetString()} " +
              (root.TryGetProperty("worker_notified", out var told) && told.ValueKind == JsonValueKind.True
                  ? "is stopping it."
                  : "was not reached over the mesh; it learns of it at its next lease renewal.");
    }

    private static string DescribeProblem(string body)
    {
        try
        {
            using var problem = JsonDocument.Parse(body);
            return problem.RootElement.TryGetProperty("detail", out var detail) ? detail.GetString() ?? body : body;
        }
        catch (JsonException)
        {
            return body;
        }
    }
}
