var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.Services.AddProblemDetails();
builder.Services.AddReverseProxy()
    .LoadFromConfig(builder.Configuration.GetSection("ReverseProxy"))
    .AddServiceDiscoveryDestinationResolver();

var app = builder.Build();

// The proxy's own errors (no healthy API replica: 503, a replica gone mid-request: 502) have no body: give them
// a problem+json one, like every other error of the API.
app.UseStatusCodePages();
app.Use(async (context, next) =>
{
    context.Response.OnStarting(() =>
    {
        // No healthy replica (e.g. while Redis is away): tell clients when to come back, as the API itself does.
        if (context.Response.StatusCode == StatusCodes.Status503ServiceUnavailable && !context.Response.Headers.ContainsKey("Retry-After"))
        {
            context.Response.Headers.RetryAfter = "5";
        }
        return Task.CompletedTask;
    });
    await next();
});

app.MapReverseProxy();
app.MapDefaultEndpoints();

app.Run();
