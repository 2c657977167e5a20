using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Aspire.Hosting;

/// <summary>The Python worker (<c>workers/python/worker.py</c>): a worker of the HTTP lease protocol, beside the .NET ones.</summary>
public static class PythonWorkerExtensions
{
    public const string ResourceName = "python-worker";

    /// <summary>The folder of the Python worker, from the repository root.</summary>
    public const string Folder = "workers/python";

    /// <summary>How many Python workers run: <c>Workers:Python:Replicas</c>, default 1.</summary>
    public static int Replicas(IConfiguration configuration) => configuration.GetValue("Workers:Python:Replicas", 1);

    /// <summary>
    /// Runs <see cref="Replicas"/> Python workers as executables (<c>python3 worker.py</c>) when python3 is on the PATH,
    /// each with the API's URL through <paramref name="gateway"/> and <paramref name="key"/> (scope <c>worker</c>); each
    /// process joins the cluster as <c>python-&lt;host&gt;-&lt;pid&gt;</c>, an id of its own (not the resource's name,
    /// which the dashboard shows already);
    /// without python3 the AppHost says so and runs none. The first is <c>python-worker</c>, the next
    /// <c>python-worker-2</c>, ...
    /// </summary>
    public static IReadOnlyList<IResourceBuilder<ExecutableResource>> AddPythonWorkers(this IDistributedApplicationBuilder builder,
        IResourceBuilder<ProjectResource> gateway, IResourceBuilder<ParameterResource> key)
    {
        var replicas = Replicas(builder.Configuration);
        if (replicas <= 0)
        {
            return [];
        }
        if (ExecutablePath.Find("python3") is not { } python)
        {
            builder.Eventing.Subscribe<AfterResourcesCreatedEvent>((e, _) =>
            {
                e.Services.GetRequiredService<ILoggerFactory>().CreateLogger("WorkCluster.AppHost").LogWarning(
                    "No python3 on the PATH: the Python worker ({Folder}) does not run. Install Python 3.10 or later, or set Workers:Python:Replicas=0.", Folder);
                return Task.CompletedTask;
            });
            return [];
        }
        var folder = Path.GetFullPath(Path.Combine(builder.AppHostDirectory, "..", Folder));
        return Enumerable.Range(1, replicas).Select(i =>
        {
            var name = i == 1 ? ResourceName : $"{ResourceName}-{i}";
            return builder.AddExecutable(name, python, folder, "worker.py")
                .WithEnvironment("WORKCLUSTER_URL", gateway.GetEndpoint("http"))
                .WithEnvironment("WORKCLUSTER_API_KEY", key)
                .WithEnvironment("PYTHONUNBUFFERED", "1")
                .WaitFor(gateway);
        }).ToArray();
    }
}
