using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace WorkCluster.Webhooks;

public static class WebhookHostingExtensions
{
    /// <summary>The <c>Webhooks</c> settings, checked at start.</summary>
    public static IHostApplicationBuilder AddWebhookOptions(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<WebhookOptions>().BindConfiguration(WebhookOptions.SectionName).ValidateDataAnnotations()
            .Validate(o => o.RetryBaseDelay <= o.RetryMaxDelay, "Webhooks:RetryBaseDelay must not exceed Webhooks:RetryMaxDelay.")
            .ValidateOnStart();
        return builder;
    }

    /// <summary>Delivers webhooks from this process (an API replica or a worker, named <paramref name="workerId"/> in each delivery), if a secret is configured.</summary>
    public static IHostApplicationBuilder AddWebhookDelivery(this IHostApplicationBuilder builder, string workerId)
    {
        builder.AddWebhookOptions();
        builder.Services.AddSingleton(new WebhookWorker(workerId));
        builder.Services.AddHostedService<WebhookDispatcher>();
        return builder;
    }
}
