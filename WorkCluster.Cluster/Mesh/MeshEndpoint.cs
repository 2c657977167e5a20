using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;

namespace WorkCluster.Cluster.Mesh;

/// <summary>
/// Where this node's mesh hub listens and how peers reach it: a port of its own, never one a load balancer or
/// the orchestrator's proxy fronts, so that an address always reaches exactly this process. Unless
/// <see cref="ClusterOptions.MeshPort"/> fixes it, the server binds port 0 and the operating system chooses (no
/// port is picked ahead and released, which another process could take meanwhile); the port is known once the
/// server has started, and advertised from then on.
/// </summary>
public sealed class MeshEndpoint(string host, string listenHost, int configuredPort)
{
    public const string Path = "/mesh";
    public const string AuthorizationPolicy = "mesh";

    private int _port = configuredPort;

    /// <summary>The host name peers reach this node at.</summary>
    public string Host { get; } = host;

    /// <summary>The port of the mesh hub; 0 until the server has bound a dynamic one.</summary>
    public int Port => Volatile.Read(ref _port);

    /// <summary>The address peers connect to, advertised in the registry; null until the port is known.</summary>
    public string? Address => Port > 0 ? $"http://{Host}:{Port}{Path}" : null;

    /// <summary>What the server listens on (port 0: any free port).</summary>
    public string ListenUrl { get; } = $"http://{listenHost}:{configuredPort}";

    /// <summary>From <see cref="ClusterOptions.MeshHost"/> and <see cref="ClusterOptions.MeshPort"/>, see there.</summary>
    public static MeshEndpoint Resolve(IConfiguration configuration)
    {
        var section = configuration.GetSection(ClusterOptions.SectionName);
        var inContainer = string.Equals(configuration["DOTNET_RUNNING_IN_CONTAINER"], "true", StringComparison.OrdinalIgnoreCase);
        var configuredHost = section[nameof(ClusterOptions.MeshHost)];
        var allInterfaces = !string.IsNullOrWhiteSpace(configuredHost) || inContainer;
        var host = !string.IsNullOrWhiteSpace(configuredHost) ? configuredHost : inContainer ? Environment.MachineName : "127.0.0.1";
        var port = section.GetValue<int?>(nameof(ClusterOptions.MeshPort)) ?? 0;
        return new MeshEndpoint(host, allInterfaces ? "0.0.0.0" : "127.0.0.1", port);
    }

    /// <summary>Learns the dynamic port from the server's bound addresses (the one on the mesh's listen host).</summary>
    internal void LearnPort(IEnumerable<string> boundAddresses)
    {
        if (Port > 0)
        {
            return;
        }
        var bound = boundAddresses.Select(a => new Uri(a)).LastOrDefault(u => u.Host == new Uri(ListenUrl).Host)
            ?? throw new InvalidOperationException($"The server did not bind the mesh endpoint {ListenUrl}.");
        Volatile.Write(ref _port, bound.Port);
    }
}

public static class MeshEndpointExtensions
{
    /// <summary>
    /// Maps the mesh hub, answered on the mesh port only (by the port the request actually came in on, not its Host
    /// header) and only to callers that prove the cluster secret.
    /// </summary>
    public static IEndpointConventionBuilder MapMeshHub(this WebApplication app)
    {
        var endpoint = app.Services.GetRequiredService<MeshEndpoint>();
        app.Lifetime.ApplicationStarted.Register(() =>
            endpoint.LearnPort(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? []));
        app.Use(async (context, next) =>
        {
            if (context.Request.Path.StartsWithSegments(MeshEndpoint.Path) && context.Connection.LocalPort != endpoint.Port)
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return;
            }
            await next(context);
        });
        return app.MapHub<MeshHub>(MeshEndpoint.Path).RequireAuthorization(MeshEndpoint.AuthorizationPolicy);
    }

    private static T GetRequiredService<T>(this IServiceProvider services) where T : notnull =>
        (T)(services.GetService(typeof(T)) ?? throw new InvalidOperationException($"{typeof(T).Name} is not registered: call AddMeshNode."));
}
