using System.Net;
using System.Net.Sockets;
using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.Configuration;

namespace Aspire.Hosting;

public static class ServiceBuilderExtensions
{
    /// <summary>
    /// Hands the AppHost's configuration sections <paramref name="sections"/> (e.g. <c>Work</c>) to the service as
    /// environment variables, so one place sets what every service of the cluster must agree on.
    /// </summary>
    public static IResourceBuilder<T> WithConfigurationSections<T>(this IResourceBuilder<T> builder, params string[] sections)
        where T : IResourceWithEnvironment
    {
        var configuration = builder.ApplicationBuilder.Configuration;
        foreach (var section in sections)
        {
            foreach (var (key, value) in configuration.GetSection(section).AsEnumerable())
            {
                if (value is not null)
                {
                    builder.WithEnvironment(key.Replace(":", "__", StringComparison.Ordinal), value);
                }
            }
        }
        return builder;
    }

    /// <summary>
    /// Gives the API a key named <paramref name="name"/> with <paramref name="scopes"/>: the key itself is the secret
    /// parameter <paramref name="key"/> (the API keeps only its SHA-256).
    /// </summary>
    public static IResourceBuilder<ProjectResource> WithApiKey(this IResourceBuilder<ProjectResource> api, string name,
        IResourceBuilder<ParameterResource> key, string scopes) =>
        api.WithEnvironment($"Auth__Keys__{name}__Key", key)
           .WithEnvironment($"Auth__Keys__{name}__Scopes", scopes);

    /// <summary>
    /// Gives a service its Redis stores, connecting as <paramref name="user"/> (see <see cref="RedisUser"/>): the work
    /// store, which it waits for, and the cluster registry's store when it has one of its own, which it does not wait
    /// for (a service works without it; membership catches up); and the stores' durability (<c>Redis:Durability</c>).
    /// </summary>
    public static IResourceBuilder<ProjectResource> WithStores(this IResourceBuilder<ProjectResource> service,
        IResourceBuilder<IResourceWithConnectionString> work, IResourceBuilder<IResourceWithConnectionString> registry, RedisUser user)
    {
        service.WithStore(work, user).WaitFor(work)
            .WithEnvironment("Redis__Durability", StoreDurabilitySetting.From(service.ApplicationBuilder.Configuration).ToString());
        return registry == work ? service : service.WithStore(registry, user);
    }

    private static IResourceBuilder<ProjectResource> WithStore(this IResourceBuilder<ProjectResource> service,
        IResourceBuilder<IResourceWithConnectionString> store, RedisUser user)
    {
        var builder = service.ApplicationBuilder;
        if (!RedisUser.HasUsers(builder, store.Resource))
        {
            return service.WithReference(store);
        }
        return service
            .WithEnvironment($"ConnectionStrings__{store.Resource.Name}", user.ConnectionString(builder, store.Resource))
            .WithRelationship(store.Resource, "Reference");
    }

    /// <summary>
    /// Points the gateway at each replica of <paramref name="api"/> on its own: every replica also listens on a
    /// port of its own (see the API's <c>AddReplicaEndpoint</c>), and the gateway's service discovery gets one
    /// address per replica — Aspire's shared replica proxy would pin kept-alive connections to one replica.
    /// When publishing, a plain reference: there the platform's DNS resolves the replicas.
    /// </summary>
    public static IResourceBuilder<ProjectResource> WithReplicaDestinations(this IResourceBuilder<ProjectResource> gateway,
        IResourceBuilder<ProjectResource> api)
    {
        if (gateway.ApplicationBuilder.ExecutionContext.IsPublishMode)
        {
            return gateway.WithReference(api);
        }

        var replicas = api.Resource.TryGetLastAnnotation<ReplicaAnnotation>(out var annotation) ? annotation.Replicas : 1;
        var ports = AllocateLoopbackPorts(replicas);
        api.WithEnvironment("Replica__Ports", string.Join(',', ports))
           .WithEnvironment("Replica__Index", """{{- index .Annotations "resource-replica-index" -}}""");
        for (var i = 0; i < ports.Length; i++)
        {
            var address = $"http://localhost:{ports[i]}";
            gateway.WithEnvironment($"services__{api.Resource.Name}__http__{i}", address);
        }
        return gateway.WithRelationship(api.Resource, "Reference");
    }

    /// <summary>
    /// The gateway listens on <paramref name="port"/> itself (0: any free port), not behind the orchestrator's
    /// proxy: it is one process, and the proxy's extra hop would cost every request (about a third of the
    /// throughput, measured with the benchmark).
    /// </summary>
    public static IResourceBuilder<ProjectResource> WithGatewayPort(this IResourceBuilder<ProjectResource> gateway, int port) =>
        gateway.WithEndpoint("http", endpoint =>
        {
            endpoint.IsProxied = false;
            endpoint.Port = port > 0 ? port : null;
        });

    /// <summary>
    /// Samples traces when <c>Telemetry:TraceSampleRatio</c> (0–1) is below 1: the gateway, where a trace starts,
    /// keeps that share, and every span after it follows the gateway's decision, so sampled jobs stay whole
    /// traces. Unset: every trace is kept (Aspire's default in development).
    /// </summary>
    public static IResourceBuilder<ProjectResource> WithTraceSampling(this IResourceBuilder<ProjectResource> service)
    {
        var ratio = service.ApplicationBuilder.Configuration.GetValue<double?>("Telemetry:TraceSampleRatio");
        if (ratio is null or >= 1)
        {
            return service;
        }
        return service
            .WithEnvironment("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
            .WithEnvironment("OTEL_TRACES_SAMPLER_ARG", Math.Clamp(ratio.Value, 0, 1).ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>
    /// Free loopback ports for the replicas' own endpoints. They are chosen below the operating system's range of
    /// ephemeral ports: a port picked here is released before the replica binds it, and no process asking the
    /// system for "any port" can be handed one of these meanwhile.
    /// </summary>
    private static int[] AllocateLoopbackPorts(int count)
    {
        var (lowest, ephemeralStart) = (10_000, EphemeralPortRangeStart());
        var listeners = new List<TcpListener>();
        try
        {
            for (var attempt = 0; listeners.Count < count && attempt < 1000; attempt++)
            {
                var listener = new TcpListener(IPAddress.Loopback, Random.Shared.Next(lowest, ephemeralStart));
                try
                {
                    listener.Start();
                    listeners.Add(listener);
                }
                catch (SocketException)
                {
                    // Taken: try another.
                }
            }
            if (listeners.Count < count)
            {
                throw new DistributedApplicationException($"No {count} free loopback ports between {lowest} and {ephemeralStart}.");
            }
            return listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port).ToArray();
        }
        finally
        {
            foreach (var listener in listeners)
            {
                listener.Stop();
            }
        }
    }

    private static int EphemeralPortRangeStart()
    {
        const string linuxRange = "/proc/sys/net/ipv4/ip_local_port_range";
        return File.Exists(linuxRange) && int.TryParse(File.ReadAllText(linuxRange).Split(['\t', ' '], StringSplitOptions.RemoveEmptyEntries)[0], out var start)
            ? start
            : 49_152; // the IANA dynamic range (Windows, macOS)
    }
}
