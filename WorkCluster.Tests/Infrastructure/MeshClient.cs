using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using WorkCluster.Cluster;
using WorkCluster.Cluster.Mesh;

namespace WorkCluster.Tests.Infrastructure;

/// <summary>
/// The test as a client of the mesh, through the cluster library's public surface, as any process holding the
/// cluster secret would be.
/// </summary>
public sealed class MeshClient : IAsyncDisposable
{
    private readonly IHost _host;

    private MeshClient(IHost host) => _host = host;

    public IMesh Mesh => _host.Services.GetRequiredService<IMesh>();

    public static async Task<MeshClient> StartAsync(AppFixture app)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:redis"] = await app.App.GetConnectionStringAsync("redis"),
            [$"ConnectionStrings:{app.RegistryResource}"] = await app.App.GetConnectionStringAsync(app.RegistryResource),
            ["Cluster:Store"] = app.RegistryResource,
            ["Cluster:Secret"] = await app.GetParameterAsync("cluster-secret"),
            ["Cluster:HeartbeatTtl"] = ThreeWorkersAppFixture.HeartbeatTtl.ToString(),
        });
        builder.AddMeshClient(NodeIdentity.Create("test-client"));
        var host = builder.Build();
        await host.StartAsync();
        return new MeshClient(host);
    }

    public async ValueTask DisposeAsync()
    {
        await _host.StopAsync();
        _host.Dispose();
    }
}
