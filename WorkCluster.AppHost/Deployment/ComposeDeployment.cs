#pragma warning disable ASPIREPIPELINES001, ASPIREPIPELINES004 // the pipeline API is marked experimental

using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Pipelines;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using WorkCluster.Redis;

namespace Aspire.Hosting;

/// <summary>The resources of the app model that the production deployment is made of.</summary>
/// <param name="Redis">The Redis resource (the container when publishing): the work store.</param>
/// <param name="Registry">The cluster registry's Redis: <paramref name="Redis"/> itself unless it has one of its own.</param>
/// <param name="Api">The API; HAProxy fronts its replicas.</param>
/// <param name="Worker">The workers.</param>
/// <param name="Gateway">The run-mode gateway: in the deployment, HAProxy (<c>lb</c>) takes its place.</param>
/// <param name="HealthPath">The path both the AppHost's and HAProxy's health checks ask.</param>
/// <param name="WorkerKey">The key of the workers of the HTTP lease protocol (the Python worker's).</param>
public sealed record ComposeTopology(
    IResourceBuilder<IResourceWithConnectionString> Redis,
    IResourceBuilder<IResourceWithConnectionString> Registry,
    IResourceBuilder<ProjectResource> Api,
    IResourceBuilder<ProjectResource> Worker,
    IResourceBuilder<ProjectResource> Gateway,
    string HealthPath,
    IResourceBuilder<ParameterResource> WorkerKey);

public static class ComposeDeploymentExtensions
{
    /// <summary>The pipeline step that writes the deployment.</summary>
    public const string StepName = "deploy-compose";

    /// <summary>
    /// Adds the pipeline step that turns the app model into <c>docker-compose.yml</c>, <c>haproxy/haproxy.cfg</c>,
    /// <c>haproxy/errors/503.http</c> and <c>.env.example</c>, written to the repository root (the AppHost's parent
    /// folder) unless <c>--output-path</c> names another:
    /// <c>dotnet run --project WorkCluster.AppHost -- --operation publish --step deploy-compose</c>
    /// </summary>
    public static IDistributedApplicationBuilder AddComposeDeployment(this IDistributedApplicationBuilder builder, ComposeTopology topology)
    {
        builder.Pipeline.AddStep(StepName, async context =>
        {
            var output = context.Services.GetRequiredService<IOptions<PipelineOptions>>().Value.OutputPath is { Length: > 0 }
                ? context.Services.GetRequiredService<IPipelineOutputService>().GetOutputDirectory()
                : Path.GetFullPath(Path.Combine(builder.AppHostDirectory, ".."));
            var files = await new ComposeGenerator(topology, builder.AppHostDirectory, context.ExecutionContext).GenerateAsync(context.CancellationToken);
            foreach (var (path, content) in files)
            {
                var target = Path.Combine(output, path);
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                await File.WriteAllTextAsync(target, content, context.CancellationToken);
                context.Summary.Add(path, target);
            }
        }, requiredBy: WellKnownPipelineSteps.Publish);
        return builder;
    }
}

/// <summary>
/// Writes the docker-compose deployment from the app model: each service's image, replicas and environment as the
/// AppHost gives them when publishing (Aspire's manifest expressions, resolved to compose service names and
/// variables), secrets as variables from <c>.env</c>, and HAProxy in place of the gateway.
/// </summary>
public sealed partial class ComposeGenerator(ComposeTopology topology, string appHostDirectory, DistributedApplicationExecutionContext executionContext)
{
    public const string LoadBalancer = "lb";
    public const string Dashboard = "dashboard";
    public const int ServicePort = 8080;
    public const int StatsPort = 8404;
    private const string Header = "Generated from the AppHost model by: dotnet run --project WorkCluster.AppHost -- --operation publish --step deploy-compose";
    private const string DashboardImage = "mcr.microsoft.com/dotnet/aspire-dashboard:13.6";
    private const string HaproxyImage = "docker.io/library/haproxy:3.0-alpine"; // an LTS release (2.9 is end of life)
    private const string UriEncodedSuffix = "-uri-encoded";
    private const string EdgeNetwork = "edge";
    private const string StoreNetwork = "store";
    private const string MeshNetwork = "mesh";
    private const string TelemetryNetwork = "telemetry";
    private const string RedisUsersSecret = "redis-users";
    private const string RedisUsersSecretFile = "secrets/redis-users.acl";
    private const string RedisUsersTemplatePath = "redis/users.acl.template";
    private const string HealthcheckUser = "healthcheck";

    private readonly string _repositoryRoot = Path.GetFullPath(Path.Combine(appHostDirectory, ".."));
    private readonly SortedSet<string> _variables = new(StringComparer.Ordinal);

    public async Task<IReadOnlyList<(string Path, string Content)>> GenerateAsync(CancellationToken cancellationToken)
    {
        var compose = await ComposeAsync(cancellationToken);
        return
        [
            ("docker-compose.yml", compose),
            ("haproxy/haproxy.cfg", Haproxy()),
            ("haproxy/errors/400.http", ErrorFile(400, "Bad Request", "Bad request", "The load balancer refused the request.")),
            ("haproxy/errors/401.http", ErrorFile(401, "Unauthorized", "API key needed",
                "This endpoint needs an API key with the scope 'admin': send 'Authorization: Bearer <key>' or 'X-Api-Key: <key>'.",
                wwwAuthenticate: "Bearer realm=\"WorkCluster\"")),
            ("haproxy/errors/408.http", ErrorFile(408, "Request Timeout", "Request timeout",
                "The request's body did not arrive within 10 s.")),
            ("haproxy/errors/429.http", ErrorFile(429, "Too Many Requests", "Too many requests",
                $"This address sent more than {RateLimitPer10s} requests in 10 s. Retry in 10 s.", retryAfter: 10)),
            ("haproxy/errors/502.http", ErrorFile(502, "Bad Gateway", "Bad gateway", "An API replica answered with something that is not HTTP, or went away mid-answer.")),
            ("haproxy/errors/503.http", ServiceUnavailable()),
            ("haproxy/errors/504.http", ErrorFile(504, "Gateway Timeout", "Gateway timeout",
                "An API replica did not answer in time.")),
            (RedisUsersTemplatePath, RedisUsersTemplate()),
            (".env.example", EnvExample()),
        ];
    }

    private async Task<string> ComposeAsync(CancellationToken cancellationToken)
    {
        var yaml = new StringBuilder();
        yaml.AppendLine($"# {Header}")
            .AppendLine("# Do not edit: change the AppHost and regenerate. Secrets come from .env (see .env.example); docs/deploy.md explains it all.")
            .AppendLine("services:");

        foreach (var store in Stores)
        {
            AppendRedis(yaml, store);
        }

        foreach (var project in new[] { topology.Api.Resource, topology.Worker.Resource })
        {
            await AppendServiceAsync(yaml, project, cancellationToken);
        }

        AppendPythonWorker(yaml);

        var api = topology.Api.Resource.Name;
        yaml.AppendLine($"  {LoadBalancer}:")
            .AppendLine($"    # Takes the place of the run-mode '{topology.Gateway.Resource.Name}': the only public endpoint, in front of the {api} replicas.")
            .AppendLine($"    image: {HaproxyImage}")
            .AppendLine("    ports:")
            .AppendLine($"      - \"${{HTTP_PORT:-80}}:80\"")
            .AppendLine($"      - \"127.0.0.1:${{HAPROXY_STATS_PORT:-{StatsPort}}}:{StatsPort}\"")
            .AppendLine("    environment:")
            .AppendLine($"      HAPROXY_STATS_PASSWORD: {Quote(Required("HAPROXY_STATS_PASSWORD"))}")
            .AppendLine("    volumes:")
            .AppendLine("      - ./haproxy:/usr/local/etc/haproxy:ro")
            .AppendLine("    ulimits:")
            .AppendLine("      nofile: 65536 # HAProxy sizes its connection limit from this")
            .AppendLine($"    networks: [{EdgeNetwork}]")
            .AppendLine("    read_only: true")
            .AppendLine("    tmpfs: [/tmp, /var/run]");
        AppendHardening(yaml, cpus: "1.0", memory: "256M");
        yaml.AppendLine("    depends_on:")
            .AppendLine($"      - {api}")
            .AppendLine("    restart: unless-stopped");

        yaml.AppendLine($"  {Dashboard}:")
            .AppendLine("    # Traces, metrics and logs of every service. Its UI asks for the browser token it logs at start");
        yaml.AppendLine($"    # (docker-compose logs {Dashboard}) and is published on this host's loopback only.")
            .AppendLine($"    image: {DashboardImage}")
            .AppendLine("    ports:")
            .AppendLine($"      - \"127.0.0.1:${{DASHBOARD_PORT:-18888}}:18888\"")
            .AppendLine("    environment:")
            .AppendLine("      DASHBOARD__FRONTEND__AUTHMODE: BrowserToken")
            .AppendLine("      DASHBOARD__OTLP__AUTHMODE: ApiKey")
            .AppendLine($"      DASHBOARD__OTLP__PRIMARYAPIKEY: {Quote(Required("DASHBOARD_OTLP_API_KEY"))}")
            .AppendLine($"    networks: [{TelemetryNetwork}]");
        AppendHardening(yaml, cpus: "1.0", memory: "512M");
        yaml.AppendLine("    restart: unless-stopped");

        yaml.AppendLine("networks:")
            .AppendLine($"  # {LoadBalancer} and the {api} replicas: the only network with a published port for the API.")
            .AppendLine($"  {EdgeNetwork}: {{}}")
            .AppendLine($"  # Redis and the services that use it; no way out (internal), and {LoadBalancer} is not on it.")
            .AppendLine($"  {StoreNetwork}:")
            .AppendLine("    internal: true")
            .AppendLine($"  # The workers' mesh, which the {api} reaches as a mesh client (cancellations, run on a node); the workers' webhooks go out here.")
            .AppendLine($"  {MeshNetwork}: {{}}")
            .AppendLine("  # Traces, metrics and logs to the dashboard.")
            .AppendLine($"  {TelemetryNetwork}: {{}}")
            .AppendLine("secrets:")
            .AppendLine($"  {RedisUsersSecret}:")
            .AppendLine($"    # Redis's users and their passwords: made from {RedisUsersTemplatePath} and .env (docs/deploy.md), never committed.")
            .AppendLine($"    file: ./{RedisUsersSecretFile}")
            .AppendLine("volumes:");
        foreach (var store in Stores)
        {
            yaml.AppendLine($"  {store.Name}-data: {{}}");
        }
        return yaml.ToString();
    }

    /// <summary>The Redis stores of the deployment: the work store, and the registry's when it has one of its own.</summary>
    private IResource[] Stores =>
        topology.Registry.Resource == topology.Redis.Resource ? [topology.Redis.Resource] : [topology.Redis.Resource, topology.Registry.Resource];

    /// <summary>
    /// A Redis service: the model's image and password parameter; the append-only file and the memory limit, as in run
    /// mode.
    /// </summary>
    private void AppendRedis(StringBuilder yaml, IResource redis)
    {
        var image = redis.Annotations.OfType<ContainerImageAnnotation>().Last();
        var memory = RedisMemoryLimit.From(topology.Api.ApplicationBuilder.Configuration);
        yaml.AppendLine($"  {redis.Name}:")
            .AppendLine($"    image: {image.Registry}/{image.Image}:{image.Tag}")
            .AppendLine("    # The image's own unprivileged user; its users and passwords come from the ACL file (a secret): none on a command line.")
            .AppendLine("    user: redis")
            .AppendLine($"    command: [\"redis-server\", \"--aclfile\", \"/run/secrets/{RedisUsersSecret}\", \"--appendonly\", \"yes\", \"--appendfsync\", " +
                $"\"{StoreArguments.AppendFsync(StoreDurabilitySetting.From(topology.Api.ApplicationBuilder.Configuration))}\", " +
                $"\"--dir\", \"/data\", \"--maxmemory\", \"{memory.MaxMemory}\", \"--maxmemory-policy\", \"{memory.Policy}\"]")
            .AppendLine("    secrets:")
            .AppendLine($"      - {RedisUsersSecret}")
            .AppendLine("    volumes:")
            .AppendLine($"      - {redis.Name}-data:/data")
            .AppendLine($"    networks: [{StoreNetwork}]")
            .AppendLine("    read_only: true");
        AppendHardening(yaml, cpus: "1.0", memory: RedisContainerMemory(memory));
        yaml.AppendLine("    healthcheck:")
            .AppendLine($"      # As the '{HealthcheckUser}' user, which may only PING: no secret on the command line.")
            .AppendLine($"      test: [\"CMD-SHELL\", \"redis-cli --user {HealthcheckUser} --pass {HealthcheckUser} --no-auth-warning ping | grep -q PONG\"]")
            .AppendLine("      interval: 5s")
            .AppendLine("      timeout: 3s")
            .AppendLine("      retries: 10")
            .AppendLine("    restart: unless-stopped");
    }

    private async Task AppendServiceAsync(StringBuilder yaml, ProjectResource project, CancellationToken cancellationToken)
    {
        var name = project.Name;
        var projectPath = project.GetProjectMetadata().ProjectPath;
        var projectName = Path.GetFileNameWithoutExtension(projectPath);
        var replicas = project.TryGetLastAnnotation<ReplicaAnnotation>(out var replica) ? replica.Replicas : 1;

        var environment = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in await EnvironmentAsync(project, cancellationToken))
        {
            if (Resolve(value) is { } resolved)
            {
                environment[key] = resolved;
            }
        }
        // Aspire's default for published projects trusts X-Forwarded-For from anyone: the API trusts the load balancer only.
        environment.Remove("ASPNETCORE_FORWARDEDHEADERS_ENABLED");
        if (project == topology.Api.Resource)
        {
            environment["Network__TrustedProxies__0"] = LoadBalancer;
        }
        environment["HTTP_PORTS"] = ServicePort.ToString(CultureInfo.InvariantCulture);
        environment["OTEL_SERVICE_NAME"] = name;
        environment["OTEL_EXPORTER_OTLP_ENDPOINT"] = $"http://{Dashboard}:18889";
        environment["OTEL_EXPORTER_OTLP_PROTOCOL"] = "grpc";
        environment["OTEL_EXPORTER_OTLP_HEADERS"] = $"x-otlp-api-key={Required("DASHBOARD_OTLP_API_KEY")}";

        var relativeProject = Path.GetRelativePath(_repositoryRoot, Path.GetDirectoryName(projectPath)!).Replace('\\', '/');
        yaml.AppendLine($"  {name}:")
            .AppendLine("    build:")
            .AppendLine("      context: .")
            .AppendLine("      dockerfile: Dockerfile")
            .AppendLine("      args:")
            .AppendLine($"        PROJECT: {relativeProject}")
            .AppendLine($"    image: workcluster/{name}:${{WORKCLUSTER_TAG:-latest}}")
            .AppendLine("    environment:");
        foreach (var (key, value) in environment)
        {
            yaml.AppendLine($"      {key}: {Quote(value)}");
        }
        var networks = project == topology.Api.Resource
            ? $"[{EdgeNetwork}, {StoreNetwork}, {MeshNetwork}, {TelemetryNetwork}]"
            : $"[{StoreNetwork}, {MeshNetwork}, {TelemetryNetwork}]";
        yaml.AppendLine($"    networks: {networks}")
            .AppendLine("    read_only: true")
            .AppendLine("    tmpfs: [/tmp]");
        AppendHardening(yaml, cpus: "1.0", memory: "512M", replicas);
        yaml.AppendLine("    healthcheck:")
            .AppendLine($"      test: [\"CMD\", \"dotnet\", \"{projectName}.dll\", \"--health-probe\"]")
            .AppendLine("      interval: 5s")
            .AppendLine("      timeout: 4s")
            .AppendLine("      start_period: 20s")
            .AppendLine("      retries: 3")
            .AppendLine("    depends_on:")
            .AppendLine($"      {topology.Redis.Resource.Name}:")
            .AppendLine("        condition: service_healthy");
        if (project == topology.Worker.Resource)
        {
            // Room to let the jobs in flight finish and hand the rest back (Worker:ShutdownTimeout, 25 s by default).
            yaml.AppendLine("    stop_grace_period: 40s");
        }
        yaml.AppendLine("    restart: unless-stopped");
    }

    /// <summary>
    /// The Python worker (<c>workers/python</c>, <c>Workers:Python:Replicas</c>): the stock Python image running the
    /// file, mounted read-only; it reaches the API through <c>lb</c>, like any client, with the workers' key.
    /// </summary>
    private void AppendPythonWorker(StringBuilder yaml)
    {
        var replicas = PythonWorkerExtensions.Replicas(topology.Api.ApplicationBuilder.Configuration);
        if (replicas <= 0)
        {
            return;
        }
        yaml.AppendLine($"  {PythonWorkerExtensions.ResourceName}:")
            .AppendLine("    # A worker of the HTTP lease protocol (docs/workers.md), standard library only.")
            .AppendLine("    image: docker.io/library/python:3-slim")
            .AppendLine("    command: [\"python3\", \"/app/worker.py\"]")
            .AppendLine("    environment:")
            .AppendLine($"      WORKCLUSTER_URL: \"http://{LoadBalancer}:80\"")
            .AppendLine($"      WORKCLUSTER_API_KEY: {Quote(Required(Variable(topology.WorkerKey.Resource.Name)))}")
            .AppendLine("      PYTHONUNBUFFERED: \"1\"")
            .AppendLine("    volumes:")
            .AppendLine($"      - ./{PythonWorkerExtensions.Folder}:/app:ro")
            .AppendLine($"    networks: [{EdgeNetwork}]")
            .AppendLine("    read_only: true")
            .AppendLine("    user: \"65534:65534\" # nobody: it needs no privilege at all");
        AppendHardening(yaml, cpus: "0.5", memory: "128M", replicas);
        yaml.AppendLine("    depends_on:")
            .AppendLine($"      - {LoadBalancer}")
            .AppendLine("    # Room to let its jobs in flight finish and hand the rest back (WORKCLUSTER_SHUTDOWN_SECONDS, 10 s).")
            .AppendLine("    stop_grace_period: 20s")
            .AppendLine("    restart: unless-stopped");
    }

    /// <summary>
    /// What every container gets: no privilege gained after start (setuid binaries do nothing), and its share of the
    /// machine (a runaway replica cannot starve the others).
    /// </summary>
    private static void AppendHardening(StringBuilder yaml, string cpus, string memory, int? replicas = null)
    {
        yaml.AppendLine("    security_opt: [\"no-new-privileges:true\"]")
            .AppendLine("    deploy:");
        if (replicas is { } count)
        {
            yaml.AppendLine($"      replicas: {count}");
        }
        yaml.AppendLine("      resources:")
            .AppendLine("        limits:")
            .AppendLine($"          cpus: \"{cpus}\"")
            .AppendLine($"          memory: {memory}");
    }

    /// <summary>Redis's container limit: its data limit (maxmemory) and room for its buffers, forks and the AOF rewrite.</summary>
    private static string RedisContainerMemory(RedisMemoryLimit memory) =>
        $"{(long)Math.Ceiling(memory.Bytes * 1.5 / (1024 * 1024)) + 64}M";

    /// <summary>
    /// Redis's users for the deployment (see <see cref="RedisUser"/>), with <c>${VARIABLE}</c> where each password
    /// goes: <c>envsubst</c> fills them in from <c>.env</c> (docs/deploy.md). The default user is off; <c>admin</c> is
    /// the operators' (REDIS_PASSWORD); <c>healthcheck</c> may only PING. Made into the secret with
    /// <c>set -a; . ./.env; set +a; envsubst &lt; redis/users.acl.template &gt; secrets/redis-users.acl</c>.
    /// </summary>
    private string RedisUsersTemplate()
    {
        var configuration = topology.Api.ApplicationBuilder.Configuration;
        // No comments: Redis refuses any line of an ACL file that is not a user.
        var text = new StringBuilder()
            .AppendLine("user default off")
            .AppendLine($"user admin on >${{{Variable(((RedisResource)topology.Redis.Resource).PasswordParameter!.Name)}}} ~* &* +@all")
            .AppendLine($"user {HealthcheckUser} on nopass resetkeys resetchannels -@all +ping");
        foreach (var user in new[] { RedisUser.Api, RedisUser.Worker })
        {
            text.AppendLine(user.AclRule(RedisUser.KeyPrefix(configuration), $">${{{Variable(user.Password(topology.Api.ApplicationBuilder).Resource.Name)}}}"));
        }
        return text.ToString();
    }

    private async Task<Dictionary<string, object>> EnvironmentAsync(IResource resource, CancellationToken cancellationToken)
    {
        var values = new Dictionary<string, object>(StringComparer.Ordinal);
        var context = new EnvironmentCallbackContext(executionContext, resource, values, cancellationToken);
        foreach (var callback in resource.Annotations.OfType<EnvironmentCallbackAnnotation>())
        {
            await callback.Callback(context);
        }
        return values;
    }

    /// <summary>
    /// A value as the compose file has it: literals as they are; Aspire's manifest expressions resolved to the
    /// compose network (endpoints → service name and container port) and to variables (parameters → <c>${NAME}</c>).
    /// Null for what has no place in the deployment (https endpoints: TLS ends at HAProxy).
    /// </summary>
    private string? Resolve(object value) => value switch
    {
        string literal => literal,
        IManifestExpressionProvider provider => ResolveExpression(provider.ValueExpression),
        _ => value.ToString(),
    };

    private string? ResolveExpression(string expression)
    {
        if (expression.Contains(".bindings.https.", StringComparison.Ordinal))
        {
            return null;
        }
        return PlaceholderPattern().Replace(expression, match =>
        {
            var (resourceName, path) = (match.Groups["resource"].Value, match.Groups["path"].Value);
            var resource = FindResource(resourceName);
            switch (resource, path)
            {
                case (ParameterResource or null, "value"):
                    // A parameter (secret): a variable of the deployment. A parameter that is only referenced (such as
                    // Redis's generated password) is not in the model's list; a URI-encoded copy of one is the same
                    // variable, since compose cannot encode (the generated secrets are alphanumeric).
                    var parameter = resourceName.EndsWith(UriEncodedSuffix, StringComparison.Ordinal)
                        ? resourceName[..^UriEncodedSuffix.Length]
                        : resourceName;
                    return Required(Variable(parameter));
                case (IResourceWithConnectionString withConnectionString, "connectionString"):
                    return ResolveExpression(withConnectionString.ConnectionStringExpression.ValueExpression) ?? "";
                case (IResource, _) when path.StartsWith("bindings.", StringComparison.Ordinal):
                    return Binding(resource, path["bindings.".Length..]);
                default:
                    return ""; // e.g. the empty "TLS enabled" part of a connection string
            }
        });
    }

    private static string Binding(IResource resource, string path)
    {
        var parts = path.Split('.');
        var endpoint = resource.Annotations.OfType<EndpointAnnotation>().First(e => e.Name == parts[0]);
        var port = endpoint.TargetPort ?? ServicePort;
        return parts[1] switch
        {
            "host" => resource.Name,
            "port" or "targetPort" => port.ToString(CultureInfo.InvariantCulture),
            "scheme" => endpoint.UriScheme,
            "url" => $"{endpoint.UriScheme}://{resource.Name}:{port}",
            _ => throw new InvalidOperationException($"No compose equivalent for {{{resource.Name}.bindings.{path}}}."),
        };
    }

    private IResource? FindResource(string name) =>
        new IResource[] { topology.Redis.Resource, topology.Registry.Resource, topology.Api.Resource, topology.Worker.Resource, topology.Gateway.Resource }
            .Concat(topology.Api.ApplicationBuilder.Resources)
            .FirstOrDefault(r => r.Name == name);

    /// <summary>The variable a parameter becomes (<c>cluster-secret</c> → <c>CLUSTER_SECRET</c>), remembered for .env.example.</summary>
    private string Variable(string parameterName)
    {
        var variable = parameterName.Replace('-', '_').ToUpperInvariant();
        _variables.Add(variable);
        return variable;
    }

    /// <summary>A variable that must be set: compose refuses to start without it.</summary>
    private string Required(string variable)
    {
        _variables.Add(variable);
        return $"${{{variable}:?set {variable} in .env}}";
    }

    private static string Quote(string value) => $"\"{value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal)}\"";

    private string Haproxy()
    {
        var api = topology.Api.Resource.Name;
        var replicas = topology.Api.Resource.TryGetLastAnnotation<ReplicaAnnotation>(out var replica) ? replica.Replicas : 1;
        // Slots for the replicas Docker's DNS may return: room to scale up without regenerating.
        var slots = Math.Max(10, 4 * replicas);
        // Above the API's longest wait for a result (GET ?wait=): a waiting request sends nothing until it answers.
        var idle = topology.Api.ApplicationBuilder.Configuration.GetValue("Work:MaxWaitSeconds", 60) + 15;
        return $$"""
            # {{Header}}
            # Do not edit: change the AppHost and regenerate.
            # HAProxy in front of the {{api}} replicas ({{replicas}} in the model), found through Docker's DNS.

            global
                log stdout format raw local0 info
                # No maxconn: HAProxy sizes it from the open-files limit it is given (ulimits: nofile in compose).
                # Relative paths (the error file) are relative to this file's folder.
                default-path config

            defaults
                mode http
                log global
                option httplog
                # X-Forwarded-For for the API (which believes it from this load balancer only: Network:TrustedProxies).
                option forwardfor
                timeout connect 5s
                # Both above the API's longest wait for a result (GET ?wait=, Work:MaxWaitSeconds + 15 s); event streams
                # send a keep-alive every 15 s.
                timeout client {{idle}}s
                timeout server {{idle}}s
                timeout http-request 10s
                timeout http-keep-alive 10s
                timeout queue 10s
                # A replica that went away: the request goes to another one if it never reached the first
                # (only then: a POST that reached a server is not sent twice).
                retries 2
                option redispatch
                retry-on conn-failure
                # The start of a request (its headers and its body's first buffer, about 15 KB: all of most requests) before
                # a replica is bothered: a slow client holds HAProxy, not the API.
                option http-buffer-request
                # Its own answers are problems (application/problem+json), like the API's.
                errorfile 400 errors/400.http
                errorfile 401 errors/401.http
                errorfile 408 errors/408.http
                errorfile 429 errors/429.http
                errorfile 502 errors/502.http
                errorfile 503 errors/503.http
                errorfile 504 errors/504.http

            resolvers docker
                nameserver dns 127.0.0.11:53
                resolve_retries 3
                timeout resolve 1s
                timeout retry 1s
                hold valid 5s
                hold obsolete 5s
                accepted_payload_size 8192

            frontend http
                bind :80
                # At most {{RateLimitPer10s}} requests per client address in 10 s (429 past it).
                stick-table type ip size 100k expire 30s store http_req_rate(10s)
                http-request track-sc0 src
                http-request deny deny_status 429 if { sc_http_req_rate(0) gt {{RateLimitPer10s}} }
                # What a client says about where it came from is not believed: HAProxy says it (X-Forwarded-For from
                # option forwardfor, the source address it saw).
                http-request del-header X-Forwarded-For
                http-request del-header Forwarded
                http-request del-header X-Forwarded-Host
                http-request del-header X-Real-IP
                http-request set-header X-Forwarded-Proto http
                # Traces start here, not at the client: a client's traceparent could force sampling or join another's trace,
                # and its baggage would travel with the work.
                http-request del-header traceparent
                http-request del-header tracestate
                http-request del-header baggage
                # The operators' endpoints are not even forwarded without a key (the API checks the key and its scope).
                # Paths compared decoded and in any case, as the API routes them.
                acl admin_path path,url_dec -m beg -i /api/v1/cluster /api/v1/schedules /api/v1/events
                acl dead_letter path,url_dec -m str -i /api/v1/work /api/v1/work/
                acl retry_path path,url_dec -m end -i /retry
                acl has_key req.hdr(authorization) -m found
                acl has_key req.hdr(x-api-key) -m found
                http-request deny deny_status 401 if admin_path !has_key
                http-request deny deny_status 401 if METH_GET dead_letter !has_key
                http-request deny deny_status 401 if retry_path !has_key
                default_backend {{api}}

            backend {{api}}
                balance roundrobin
                option httpchk GET {{topology.HealthPath}}
                http-check expect status 200
                # Checked every 2 s; out after 2 failures, back after 2 successes. At most {{MaxConnPerServer}} requests
                # at once per replica; the rest wait in HAProxy's queue (timeout queue).
                default-server inter 2s fall 2 rise 2 maxconn {{MaxConnPerServer}}
                server-template {{api}}- {{slots}} {{api}}:{{ServicePort}} check resolvers docker init-addr none

            listen stats
                bind :{{StatsPort}}
                stats enable
                stats uri /
                stats refresh 10s
                stats auth admin:"${HAPROXY_STATS_PASSWORD}"

            """;
    }

    /// <summary>Requests one client address may send in 10 s before HAProxy answers 429.</summary>
    private const int RateLimitPer10s = 2000;

    /// <summary>Requests HAProxy sends one API replica at once.</summary>
    private const int MaxConnPerServer = 500;

    /// <summary>An HAProxy error file: its own answer with <paramref name="status"/>, as a problem.</summary>
    private static string ErrorFile(int status, string reason, string title, string detail, int? retryAfter = null, string? wwwAuthenticate = null)
    {
        var body = JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["type"] = status == 429 ? "https://www.rfc-editor.org/rfc/rfc6585#section-4"
                : $"https://tools.ietf.org/html/rfc9110#section-15.{(status < 500 ? 5 : 6)}.{StatusSection(status)}",
            ["title"] = title,
            ["status"] = status,
            ["detail"] = detail,
        }) + "\n";
        return $"HTTP/1.1 {status} {reason}\r\n" +
               "Content-Type: application/problem+json\r\n" +
               "Cache-Control: no-cache\r\n" +
               (retryAfter is { } seconds ? $"Retry-After: {seconds}\r\n" : "") +
               (wwwAuthenticate is { } challenge ? $"WWW-Authenticate: {challenge}\r\n" : "") +
               "Connection: close\r\n" +
               $"Content-Length: {Encoding.UTF8.GetByteCount(body)}\r\n" +
               "\r\n" +
               body;
    }

    /// <summary>The section of RFC 9110 (15.5.x, 15.6.x) that defines <paramref name="status"/>.</summary>
    private static int StatusSection(int status) => status switch
    {
        400 => 1,
        401 => 2,
        408 => 9,
        502 => 3,
        504 => 5,
        _ => 1,
    };

    private static string ServiceUnavailable()
    {
        // The file ends with a newline, which is part of the body HAProxy sends.
        const string body = """{"type":"https://tools.ietf.org/html/rfc9110#section-15.6.4","title":"No API replica is available","status":503,"detail":"No replica of the API passes its health check right now (Redis may be unreachable). Retry in 5 s."}""" + "\n";
        return "HTTP/1.1 503 Service Unavailable\r\n" +
               "Content-Type: application/problem+json\r\n" +
               "Cache-Control: no-cache\r\n" +
               "Retry-After: 5\r\n" +
               "Connection: close\r\n" +
               $"Content-Length: {Encoding.UTF8.GetByteCount(body)}\r\n" +
               "\r\n" +
               body;
    }

    private string EnvExample()
    {
        var text = new StringBuilder()
            .AppendLine($"# {Header}")
            .AppendLine("# Copy to .env and fill in: every variable is required, and none may be committed.")
            .AppendLine("# Secrets: long random strings, e.g. `openssl rand -hex 24`.");
        foreach (var variable in _variables)
        {
            text.AppendLine($"{variable}=");
        }
        return text.AppendLine("# Optional: HTTP_PORT (80), HAPROXY_STATS_PORT (8404), DASHBOARD_PORT (18888), WORKCLUSTER_TAG (latest).")
            .ToString();
    }

    [GeneratedRegex(@"\{(?<resource>[A-Za-z0-9_-]+)\.(?<path>[A-Za-z0-9_.]+)\}")]
    private static partial Regex PlaceholderPattern();

}
