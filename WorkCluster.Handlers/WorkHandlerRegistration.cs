using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace WorkCluster.Handlers;

public static class WorkHandlerRegistration
{
    /// <summary>The work types that only demonstrate the queue (and measure it): registered where <see cref="WorkTypeOptions.DemoTypes"/> says.</summary>
    public static readonly IReadOnlyList<string> DemoTypes = ["sleep", "flaky", "noop"];

    /// <summary>
    /// The work types of WorkCluster. Adding one: write the handler class, add one line here. The demonstration types
    /// (<see cref="DemoTypes"/>) are there in Development only, unless <c>Work:DemoTypes</c> says otherwise; a
    /// submission without a type is <c>sleep</c> work where they are, and must name its type elsewhere (unless
    /// <c>Work:DefaultType</c> names one).
    /// </summary>
    public static IServiceCollection AddWorkHandlers(this IServiceCollection services, IConfiguration configuration, IHostEnvironment environment)
    {
        var demo = configuration.GetValue<bool?>("Work:DemoTypes") ?? environment.IsDevelopment();
        services.AddOptions<WorkTypeOptions>().Bind(configuration.GetSection("Work")).ValidateDataAnnotations().ValidateOnStart()
            .PostConfigure(options =>
            {
                options.DemoTypes = demo;
                options.DefaultType ??= demo ? "sleep" : null;
            });
        services.AddOptions<SleepOptions>().Bind(configuration.GetSection("Work")).ValidateDataAnnotations().ValidateOnStart();
        services.TryAddSingleton<WorkTypes>();

        services
            .AddWorkHandler<EchoHandler>("echo")
            .AddWorkHandler<Sha256Handler>("sha256");
        if (demo)
        {
            services
                .AddWorkHandler<SleepHandler>("sleep")
                .AddWorkHandler<FlakyHandler>("flaky")
                .AddWorkHandler<NoopHandler>("noop");
        }
        return services;
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
