using Microsoft.Extensions.Options;
using WorkCluster.Cluster;
using WorkCluster.Handlers;
using WorkCluster.Queue;
using WorkCluster.Webhooks;

namespace WorkCluster.Worker;

public static class WorkerHostingExtensions
{
    /// <summary>
    /// Everything a worker runs, on any host (the worker service, or a benchmark in process): the queue, cluster
    /// membership as <paramref name="identity"/>, the work types, the claim loop with its lease keeper, the queue's
    /// maintenance (taking its turns with every other process that serves the queue) and webhook delivery. The mesh is
    /// the web host's part (see Program).
    /// </summary>
    public static IHostApplicationBuilder AddWorker(this IHostApplicationBuilder builder, NodeIdentity identity)
    {
        builder.AddWorkQueue();
        builder.AddClusterNode(identity);
        builder.Services.AddWorkHandlers(builder.Configuration, builder.Environment);
        builder.Services.AddOptions<WorkerOptions>().BindConfiguration(WorkerOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddOptions<HostOptions>().Configure<IOptions<WorkerOptions>>((host, worker) =>
            // Room for the jobs in flight to finish, then for the rest to stop and be handed back, and the node to leave.
            host.ShutdownTimeout = worker.Value.ShutdownTimeout + TimeSpan.FromSeconds(10));

        builder.Services.AddSingleton<LeaseKeeper>();
        builder.Services.AddSingleton<AttemptLog>();
        builder.Services.AddSingleton<WorkerStatus>();
        builder.Services.AddSingleton<INodeStatus>(sp => sp.GetRequiredService<WorkerStatus>());
        // Registered after the cluster node: stopped before it, so the node stays listed until its jobs are handed back.
        builder.Services.AddHostedService<WorkerService>();
        builder.AddQueueMaintenance(identity.Id);
        builder.AddWebhookDelivery(identity.Id);
        return builder;
    }
}
