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

app.MapReverseProxy();
app.MapDefaultEndpoints();

app.Run();
