using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;

namespace WorkCluster.Cluster.Mesh;

/// <summary>
/// Where this node's mesh hub listens and how peers reach it: a port of its own, never one a load balancer or
/// the orchestrator's proxy fronts, so that an address always reaches exactly this process.
/// </summary>
public sealed record MeshEndpoint(string Host, int Port, bool AllInterfaces)
{
    public const string Path = "/mesh";
    public const string AuthorizationPolicy = "mesh";

    /// <summary>The address peers connect to, advertised in the registry.</summary>
    public string Address => $"http://{Host}:{Port}{Path}";

    /// <summary>What the server listens on.</summary>
    public string ListenUrl => $"http://{(AllInterfaces ? "*" : "localhost")}:{Port}";

    /// <summary>From <see cref="ClusterOptions.MeshHost"/> and <see cref="ClusterOptions.MeshPort"/>, see there.</summary>
    public static MeshEndpoint Resolve(IConfiguration configuration)
    {
        var section = configuration.GetSection(ClusterOptions.SectionName);
        var inContainer = string.Equals(configuration["DOTNET_RUNNING_IN_CONTAINER"], "true", StringComparison.OrdinalIgnoreCase);
        var configuredHost = section[nameof(ClusterOptions.MeshHost)];
        var host = !string.IsNullOrWhiteSpace(configuredHost) ? configuredHost : inContainer ? Environment.MachineName : "localhost";
        var allInterfaces = !string.IsNullOrWhiteSpace(configuredHost) || inContainer;
        var port = section.GetValue<int?>(nameof(ClusterOptions.MeshPort)) is > 0 and var fixedPort ? fixedPort : FreePort(allInterfaces);
        return new MeshEndpoint(host, port, allInterfaces);
    }

    private static int FreePort(bool allInterfaces)
    {
        var listener = new TcpListener(allInterfaces ? IPAddress.Any : IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
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
