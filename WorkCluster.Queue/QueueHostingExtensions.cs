using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace WorkCluster.Queue;

public static class QueueHostingExtensions
{
    /// <summary>
    /// Adds the Redis client for <paramref name="connectionName"/> (Aspire's, with health check and tracing) and the
    /// work queue on top of it, configured from the <c>Work</c> section.
    /// </summary>
    public static IHostApplicationBuilder AddWorkQueue(this IHostApplicationBuilder builder, string connectionName = "redis")
    {
        builder.AddRedisClient(connectionName, configureOptions: options =>
        {
            // Start and keep running while Redis is away; reconnect in the background.
            options.AbortOnConnectFail = false;
        });

        builder.Services.AddOptions<QueueOptions>()
            .Bind(builder.Configuration.GetSection(QueueOptions.SectionName))
            .ValidateDataAnnotations()
            .ValidateOnStart();

        builder.Services.AddSingleton<QueueScripts>();
        builder.Services.AddSingleton<WorkQueue>();
        builder.Services.AddSingleton(sp => sp.GetRequiredService<WorkQueue>().Keys);
        builder.Services.AddSingleton(sp =>
        {
            var connectionString = builder.Configuration.GetConnectionString(connectionName)
                ?? throw new InvalidOperationException($"Connection string '{connectionName}' is not configured.");
            return new WorkSignal(ConfigurationOptions.Parse(connectionString), sp.GetRequiredService<QueueKeys>(),
                sp.GetRequiredService<ILogger<WorkSignal>>());
        });
        return builder;
    }
}
