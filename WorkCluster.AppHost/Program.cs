using Microsoft.Extensions.Configuration;

const string healthPath = "/health";

var builder = DistributedApplication.CreateBuilder(args);

var redis = builder.AddWorkClusterRedis("redis");
// The cluster registry (heartbeats, membership, mesh addresses) lives in the work store, unless Cluster:Store names a
// Redis of its own: no job depends on it.
var registry = builder.Configuration["Cluster:Store"] is { Length: > 0 } store && store != redis.Resource.Name
    ? builder.AddWorkClusterRedis(store)
    : redis;
var clusterSecret = builder.AddParameter("cluster-secret", new GenerateParameterDefault { MinLength = 32, Special = false }, secret: true);
// Signs every webhook (Standard Webhooks, HMAC-SHA256); receivers verify with the same secret.
var webhookSecret = builder.AddParameter("webhook-secret", new GenerateParameterDefault { MinLength = 32, Special = false }, secret: true);
// The API's keys (docs/security.md): the operators' key may do everything; the clients' key submits work and reads its own.
var adminKey = builder.AddParameter("admin-api-key", new GenerateParameterDefault { MinLength = 40, Special = false }, secret: true);
var clientKey = builder.AddParameter("client-api-key", new GenerateParameterDefault { MinLength = 40, Special = false }, secret: true);
// Workers of the HTTP lease protocol (any language, e.g. the Python worker) lease work with this key.
var workerKey = builder.AddParameter("worker-api-key", new GenerateParameterDefault { MinLength = 40, Special = false }, secret: true);

var api = builder.AddProject<Projects.WorkCluster_Api>("api")
    .WithStores(redis, registry, RedisUser.Api)
    .WithConfigurationSections("Work", "Cluster", "Schedules", "Webhooks", "Auth", "RateLimits", "Logging:LogLevel:WorkCluster")
    .WithEnvironment("Cluster__Secret", clusterSecret)
    .WithEnvironment("Webhooks__Secret", webhookSecret)
    .WithApiKey("admin", adminKey, "admin read submit")
    .WithApiKey("client", clientKey, "submit")
    .WithApiKey("worker", workerKey, "worker")
    .WithHttpHealthCheck(healthPath)
    .WithReplicas(builder.Configuration.GetValue("Api:Replicas", 2));

var worker = builder.AddProject<Projects.WorkCluster_Worker>("worker")
    .WithStores(redis, registry, RedisUser.Worker)
    .WithConfigurationSections("Work", "Worker", "Cluster", "Schedules", "Webhooks", "Logging:LogLevel:WorkCluster")
    .WithEnvironment("Cluster__Secret", clusterSecret)
    .WithEnvironment("Webhooks__Secret", webhookSecret)
    .WithHttpHealthCheck(healthPath)
    .WithReplicas(builder.Configuration.GetValue("Worker:Replicas", 2));

// The gateway only forwards HTTP to the API: it gets no reference to Redis, so its password never reaches a
// process that has no use for it; it starts once the API (which waits for Redis) is healthy.
var gateway = builder.AddProject<Projects.WorkCluster_Gateway>("gateway")
    .WithReplicaDestinations(api)
    .WaitFor(api)
    .WithGatewayPort(builder.Configuration.GetValue("Gateway:Port", 8080))
    .WithHttpHealthCheck(healthPath)
    .WithExternalHttpEndpoints();

if (builder.ExecutionContext.IsRunMode)
{
    builder.AddClusterMonitor("cluster", redis, registry, api, gateway, adminKey);
    builder.AddPythonWorkers(gateway, workerKey);
    foreach (var service in new[] { api, worker, gateway })
    {
        service.WithTraceSampling();
    }
}
else
{
    builder.AddComposeDeployment(new ComposeTopology(redis, registry, api, worker, gateway, healthPath, workerKey));
}

builder.Build().Run();
