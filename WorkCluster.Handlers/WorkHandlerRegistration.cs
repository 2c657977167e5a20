using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace WorkCluster.Handlers;

public static class WorkHandlerRegistration
{
    /// <summary>The work types of WorkCluster. Adding one: write the handler class, add one line here.</summary>
    public static IServiceCollection AddWorkHandlers(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<WorkTypeOptions>().Bind(configuration.GetSection("Work")).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<SleepOptions>().Bind(configuration.GetSection("Work")).ValidateDataAnnotations().ValidateOnStart();
        services.TryAddSingleton<WorkTypes>();

        return services
            .AddWorkHandler<SleepHandler>("sleep")
            .AddWorkHandler<EchoHandler>("echo")
            .AddWorkHandler<Sha256Handler>("sha256")
            .AddWorkHandler<FlakyHandler>("flaky")
            .AddWorkHandler<NoopHandler>("noop");
    }

    /// <summary>Registers <typeparamref name="THandler"/> as the handler of the work type <paramref name="name"/>.</summary>
    public static IServiceCollection AddWorkHandler<THandler>(this IServiceCollection services, string name)
        where THandler : class, IWorkHandler
    {
        services.AddKeyedSingleton<IWorkHandler, THandler>(name);
        services.AddSingleton(new WorkTypeRegistration(name, typeof(THandler)));
        return services;
    }
}
