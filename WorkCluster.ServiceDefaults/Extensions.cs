using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// What every WorkCluster service shares: OpenTelemetry, health endpoints, service discovery and HttpClient
/// resilience. Each service calls <see cref="AddServiceDefaults{TBuilder}"/> first.
/// </summary>
public static class Extensions
{
    public const string HealthEndpointPath = "/health";
    public const string AlivenessEndpointPath = "/alive";
    private const string LiveTag = "live";

    public static TBuilder AddServiceDefaults<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.ConfigureOpenTelemetry();
        builder.AddDefaultHealthChecks();

        builder.Services.AddServiceDiscovery();
        builder.Services.ConfigureHttpClientDefaults(http =>
        {
            http.AddStandardResilienceHandler();
            http.AddServiceDiscovery();
        });

        return builder;
    }

    public static TBuilder ConfigureOpenTelemetry<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.Logging.AddOpenTelemetry(logging =>
        {
            logging.IncludeFormattedMessage = true;
            logging.IncludeScopes = true;
        });

        builder.Services.AddOpenTelemetry()
            .WithMetrics(metrics => metrics
                .AddAspNetCoreInstrumentation()
                .AddHttpClientInstrumentation()
                .AddRuntimeInstrumentation()
                .AddMeter("WorkCluster"))
            .WithTracing(tracing => tracing
                .AddSource(builder.Environment.ApplicationName)
                .AddSource("WorkCluster")
                .AddAspNetCoreInstrumentation(options =>
                    // Health probes every few seconds would drown the traces that matter.
                    options.Filter = context =>
                        !context.Request.Path.StartsWithSegments(HealthEndpointPath)
                        && !context.Request.Path.StartsWithSegments(AlivenessEndpointPath))
                .AddHttpClientInstrumentation());

        if (!string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
        {
            builder.Services.AddOpenTelemetry().UseOtlpExporter();
        }

        return builder;
    }

    public static TBuilder AddDefaultHealthChecks<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.Services.AddHealthChecks()
            .AddCheck("self", () => HealthCheckResult.Healthy(), [LiveTag]);
        return builder;
    }

    /// <summary>
    /// Maps <c>/health</c> (ready: every check passes, Redis included) and <c>/alive</c> (the process runs).
    /// Mapped in every environment: the load balancers probe them. They report status only, no details.
    /// </summary>
    public static WebApplication MapDefaultEndpoints(this WebApplication app)
    {
        app.MapHealthChecks(HealthEndpointPath);
        app.MapHealthChecks(AlivenessEndpointPath, new HealthCheckOptions { Predicate = r => r.Tags.Contains(LiveTag) });
        return app;
    }

    /// <summary>
    /// For a container's health check without curl in the image: <c>dotnet Service.dll --health-probe</c> asks this
    /// service's own <c>/health</c> (on <c>HTTP_PORTS</c>, default 8080) and exits 0 when healthy, 1 otherwise. Call
    /// it first in Program; it returns null (and does nothing) when the argument is absent.
    /// </summary>
    public static async Task<int?> RunHealthProbeIfAskedAsync(string[] args)
    {
        if (args is not ["--health-probe", ..])
        {
            return null;
        }
        var port = (Environment.GetEnvironmentVariable("HTTP_PORTS") ?? Environment.GetEnvironmentVariable("ASPNETCORE_HTTP_PORTS") ?? "8080")
            .Split(';', ',')[0].Trim();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(3) };
        try
        {
            using var response = await http.GetAsync($"http://localhost:{port}{HealthEndpointPath}");
            return response.IsSuccessStatusCode ? 0 : 1;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return 1;
        }
    }

    /// <summary>
    /// Listens on <paramref name="url"/> as well as on the addresses the host was given (<c>ASPNETCORE_URLS</c>, or
    /// <c>ASPNETCORE_HTTP_PORTS</c>, or the default), e.g. for an endpoint that must reach this very replica.
    /// </summary>
    public static WebApplicationBuilder ListenAlsoOn(this WebApplicationBuilder builder, string url)
    {
        static string[] Split(string? value, char separator) =>
            (value ?? "").Split(separator, StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);

        var urls = Split(builder.Configuration[WebHostDefaults.ServerUrlsKey], ';');
        if (urls.Length == 0)
        {
            urls = Split(builder.Configuration[WebHostDefaults.HttpPortsKey], ';').Select(port => $"http://*:{port}").ToArray();
        }
        if (urls.Length == 0)
        {
            urls = ["http://localhost:5000"];
        }
        builder.WebHost.UseUrls([.. urls, url]);
        return builder;
    }

    /// <summary>
    /// The name of this service instance, as the dashboard shows it (e.g. <c>api-abcdefgh</c>): <c>Instance:Name</c>
    /// if set, else the OpenTelemetry service name and instance id Aspire gives each replica, else the service name
    /// and host name (a container's host name is its id).
    /// </summary>
    public static string GetInstanceName(this IHostApplicationBuilder builder)
    {
        var configured = builder.Configuration["Instance:Name"];
        if (!string.IsNullOrWhiteSpace(configured))
        {
            return configured;
        }
        var service = builder.Configuration["OTEL_SERVICE_NAME"] is { Length: > 0 } name
            ? name
            : builder.Environment.ApplicationName.Split('.').Last().ToLowerInvariant();
        var instance = ParseResourceAttribute(builder.Configuration["OTEL_RESOURCE_ATTRIBUTES"], "service.instance.id")
            ?? Environment.MachineName.ToLowerInvariant();
        return $"{service}-{instance}";
    }

    private static string? ParseResourceAttribute(string? attributes, string key)
    {
        foreach (var pair in (attributes ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var eq = pair.IndexOf('=');
            if (eq > 0 && pair[..eq] == key && eq < pair.Length - 1)
            {
                return pair[(eq + 1)..];
            }
        }
        return null;
    }
}
