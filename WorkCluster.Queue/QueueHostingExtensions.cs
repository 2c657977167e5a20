using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using WorkCluster.Queue.Maintenance;
using WorkCluster.Queue.Schedules;
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
            .Validate(o => o.MaxResultBytes <= o.MaxResultsBytes, "Work:MaxResultBytes must not exceed Work:MaxResultsBytes: a result that size could never be kept.")
            .Validate(o => TimeSpan.FromMilliseconds(o.CancelGraceMs) > o.LeaseRenewInterval,
                "Work:CancelGraceMs must be longer than a lease renewal interval (a third of Work:LeaseTtl): a worker the mesh " +
                "cannot reach learns of a cancellation at its next renewal, and must still be able to stop the job cleanly.")
            .ValidateOnStart();

        builder.Services.AddSingleton<QueueTelemetry>();
        builder.Services.AddSingleton<QueueScripts>();
        builder.Services.AddSingleton<IRedisScriptSet>(sp => sp.GetRequiredService<QueueScripts>());
        builder.Services.AddSingleton<QueueKeys>();
        builder.Services.AddSingleton<WorkQueue>();
        builder.Services.AddSingleton<WorkSignal>();

        builder.Services.AddOptions<ScheduleOptions>().BindConfiguration(ScheduleOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<RecurringSchedules>();
        return builder;
    }

    /// <summary>
    /// Runs the queue's upkeep in this process (<see cref="QueueMaintainer"/>), taking turns as <paramref name="name"/>:
    /// every process that serves the queue should, so that it is kept whichever of them run. The recurring schedules are
    /// one of its duties unless <c>Schedules:Enabled</c> is false (their jobs are made as <paramref name="name"/>).
    /// </summary>
    public static IHostApplicationBuilder AddQueueMaintenance(this IHostApplicationBuilder builder, string name)
    {
        builder.Services.AddSingleton(new MaintainerName(name));
        builder.Services.AddSingleton<IMaintenanceDuty, LeaseRescuer>();
        builder.Services.AddSingleton<IMaintenanceDuty, DuePromoter>();
        builder.Services.AddSingleton<IMaintenanceDuty, ExpiredJobPurger>();
        builder.Services.AddSingleton<IMaintenanceDuty, StoreRepairer>();
        if (builder.Configuration.GetValue($"{ScheduleOptions.SectionName}:{nameof(ScheduleOptions.Enabled)}", true))
        {
            builder.Services.AddSingleton<IMaintenanceDuty, ScheduleFirer>();
        }
        builder.Services.AddHostedService<QueueMaintainer>();
        return builder;
    }
}
