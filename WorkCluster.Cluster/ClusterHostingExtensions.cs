using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using WorkCluster.Redis;

namespace WorkCluster.Cluster;

public static class ClusterHostingExtensions
{
    /// <summary>Reading the cluster's membership (for a client of the cluster, such as the API).</summary>
    public static IHostApplicationBuilder AddClusterRegistry(this IHostApplicationBuilder builder)
    {
        builder.AddWorkClusterRedis();
        if (builder.Services.Any(d => d.ServiceType == typeof(ClusterRegistry)))
        {
            return builder;
        }
        builder.Services.AddOptions<ClusterOptions>()
            .BindConfiguration(ClusterOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddSingleton<ClusterScripts>();
        builder.Services.AddSingleton<IRedisScriptSet>(sp => sp.GetRequiredService<ClusterScripts>());
        builder.Services.AddSingleton<ClusterKeys>();
        builder.Services.AddSingleton<ClusterRegistry>();
        return builder;
    }

    /// <summary>
    /// Makes this process a node of the cluster: it registers with heartbeats as <paramref name="identity"/>,
    /// leaves on stop, and sweeps for dead nodes (see <see cref="IDeadNodeHandler"/>).
    /// </summary>
    public static IHostApplicationBuilder AddClusterNode(this IHostApplicationBuilder builder, NodeIdentity identity)
    {
        builder.AddClusterRegistry();
        builder.Services.AddSingleton(identity);
        builder.Services.AddSingleton<NodeHeartbeat>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<NodeHeartbeat>());
        builder.Services.AddSingleton<DeadNodeSweeper>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<DeadNodeSweeper>());
        return builder;
    }
}
