using WorkCluster.Handlers;
using WorkCluster.Queue;
using WorkCluster.Worker;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddWorkQueue();
builder.Services.AddWorkHandlers(builder.Configuration);
builder.Services.AddOptions<WorkerOptions>().BindConfiguration(WorkerOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
builder.Services.AddSingleton(WorkerIdentity.Create(builder.GetInstanceName()));
builder.Services.AddSingleton<WorkerService>();
builder.Services.AddHostedService(sp => sp.GetRequiredService<WorkerService>());
builder.Services.AddHostedService<ExpiredJobsPurger>();

var app = builder.Build();

app.MapDefaultEndpoints();

app.Run();
