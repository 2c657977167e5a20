using WorkCluster.Cluster;
using WorkCluster.Cluster.Mesh;
using WorkCluster.Worker;

if (await Extensions.RunHealthProbeIfAskedAsync(args) is { } probe)
{
    return probe;
}

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddWorker(NodeIdentity.Create(builder.GetInstanceName()));
var mesh = builder.AddMeshNode();
builder.ListenAlsoOn(mesh.ListenUrl);
builder.Services.AddMeshRequestHandler<RunWork, RunWorkResult, RunWorkHandler>();
builder.Services.AddMeshRequestHandler<CancelJob, CancelJobReply, CancelJobHandler>();

var app = builder.Build();

app.MapMeshHub();
app.MapDefaultEndpoints();

await app.RunAsync();
return 0;
