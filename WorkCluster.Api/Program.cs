using Scalar.AspNetCore;
using WorkCluster.Api;
using WorkCluster.Api.Apis;
using WorkCluster.Api.Events;
using WorkCluster.Api.Security;
using WorkCluster.Cluster;
using WorkCluster.Handlers;
using WorkCluster.Queue;
using WorkCluster.Redis;
using WorkCluster.Webhooks;

if (await Extensions.RunHealthProbeIfAskedAsync(args) is { } probe)
{
    return probe;
}

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddReplicaEndpoint();
// Requests must not wait for Redis to come back: answer 503 at once while it is away.
builder.AddWorkClusterRedis(failFast: true);
builder.AddWorkQueue();
builder.Services.AddWorkHandlers(builder.Configuration, builder.Environment);
builder.Services.AddOptions<WorkApiOptions>().BindConfiguration("Work").ValidateDataAnnotations()
    .Validate<Microsoft.Extensions.Options.IOptions<QueueOptions>>((api, queue) =>
        api.MaxPayloadBytes <= queue.Value.MaxQueueBytes && api.MaxPayloadBytes <= queue.Value.MaxFailedBytes,
        "Work:MaxPayloadBytes must not exceed Work:MaxQueueBytes or Work:MaxFailedBytes: a job that size could never be queued or kept.")
    .ValidateOnStart();
builder.Services.AddSingleton(new ApiInstance(builder.GetInstanceName()));
// The queue's upkeep (lease sweep, promotion, purge, repair, recurring schedules) and webhook delivery run wherever the
// queue is served, so that a cluster whose only workers speak HTTP is kept too; each upkeep duty runs in one process per
// tick, deliveries are spread over all of them (each under a lease of its own).
builder.AddQueueMaintenance(builder.GetInstanceName());
builder.AddWebhookDelivery(builder.GetInstanceName());
builder.AddMeshClient(NodeIdentity.Create(builder.GetInstanceName()));
builder.Services.AddSingleton<EventHub>();
builder.Services.AddSingleton<HttpWorkerTypes>();
builder.AddApiKeys();
builder.Services.AddOptions<NetworkOptions>().BindConfiguration("Network");
builder.Services.AddSingleton<TrustedProxies>();
builder.Services.AddSingleton<ApiScripts>();
builder.Services.AddSingleton<WorkCluster.Redis.IRedisScriptSet>(sp => sp.GetRequiredService<ApiScripts>());
builder.Services.AddOptions<RateLimitOptions>().BindConfiguration("RateLimits").ValidateOnStart();
builder.Services.AddSingleton<Microsoft.Extensions.Options.IValidateOptions<RateLimitOptions>, RateLimitOptionsValidator>();
// The host's own forwarded-headers handling (ASPNETCORE_FORWARDEDHEADERS_ENABLED, which Aspire sets when publishing)
// would believe X-Forwarded-For from anyone, before UseTrustedForwardedHeaders decides whom to believe: it stays off.
builder.Configuration.AddInMemoryCollection([new("FORWARDEDHEADERS_ENABLED", "false")]);
builder.Services.AddSingleton(sp =>
{
    var webhooks = sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<WebhookOptions>>().Value;
    return new CallbackPolicy(webhooks.Enabled, webhooks.AllowPrivateNetworks ?? builder.Environment.IsDevelopment());
});

builder.Services.ConfigureHttpJsonOptions(options =>
    options.SerializerOptions.DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull);
builder.Services.AddProblemDetails();
builder.Services.AddExceptionHandler<ProblemExceptionHandler>();
builder.Services.AddOpenApi();

var app = builder.Build();

app.UseTrustedForwardedHeaders();
app.UseExceptionHandler();
app.UseStatusCodePages();
app.UseAuthentication();
app.UseMiddleware<RateLimitMiddleware>();
app.UseAuthorization();

if (app.Environment.IsDevelopment())
{
    app.MapOpenApi();
    app.MapScalarApiReference();
}

app.MapWorkApiV1();
app.MapEventsApiV1();
app.MapScheduleApiV1();
app.MapClusterApiV1();
app.MapLeasesApiV1();
app.MapDefaultEndpoints();

await app.RunAsync();
return 0;
