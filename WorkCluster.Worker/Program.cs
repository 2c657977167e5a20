using WorkCluster.Cluster;
using WorkCluster.Cluster.Mesh;
using WorkCluster.Handlers;
using WorkCluster.Queue;
using WorkCluster.Worker;

if (await Extensions.RunHealthProbeIfAskedAsync(args) is { } probe)
{
    return probe;
}

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddWorkQueue();
builder.AddClusterNode(NodeIdentity.Create(builder.GetInstanceName()));
var mesh = builder.AddMeshNode();
builder.ListenAlsoOn(mesh.ListenUrl);
builder.Services.AddMeshRequestHandler<RunWork, RunWorkResult, RunWorkHandler>();
builder.Services.AddWorkHandlers(builder.Configuration);
builder.Services.AddOptions<WorkerOptions>().BindConfiguration(WorkerOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
builder.Services.AddOptions<HostOptions>().Configure<Microsoft.Extensions.Options.IOptions<WorkerOptions>>((host, worker) =>
    // Room for the jobs in flight to finish, then for the rest to be handed back and the node to leave.
    host.ShutdownTimeout = worker.Value.ShutdownTimeout + TimeSpan.FromSeconds(10));

builder.Services.AddSingleton<IDeadNodeHandler, QueueRecovery>();
builder.Services.AddSingleton<WorkerStatus>();
builder.Services.AddSingleton<INodeStatus>(sp => sp.GetRequiredService<WorkerStatus>());
// Registered after the cluster node: stopped before it, so the jobs are handed back before the node leaves.
builder.Services.AddHostedService<WorkerService>();
builder.Services.AddHostedService<QueueMaintenance>();

var app = builder.Build();

app.MapMeshHub();
app.MapDefaultEndpoints();

await app.RunAsync();
return 0;
