using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using WorkCluster.Redis;

namespace WorkCluster.Queue;

public static class QueueHostingExtensions
{
    /// <summary>Adds the work queue, configured from the <c>Work</c> section, on WorkCluster's Redis connection.</summary>
    public static IHostApplicationBuilder AddWorkQueue(this IHostApplicationBuilder builder)
    {
        builder.AddWorkClusterRedis();

        builder.Services.AddOptions<QueueOptions>()
            .BindConfiguration(QueueOptions.SectionName)
            .ValidateDataAnnotations()
            .Validate(o => o.RetryBaseDelay <= o.RetryMaxDelay, "Work:RetryBaseDelay must not exceed Work:RetryMaxDelay.")
            .ValidateOnStart();

        builder.Services.AddSingleton<QueueTelemetry>();
        builder.Services.AddSingleton<QueueScripts>();
        builder.Services.AddSingleton<IRedisScriptSet>(sp => sp.GetRequiredService<QueueScripts>());
        builder.Services.AddSingleton<QueueKeys>();
        builder.Services.AddSingleton<WorkQueue>();
        builder.Services.AddSingleton<WorkSignal>();
        return builder;
    }
}
