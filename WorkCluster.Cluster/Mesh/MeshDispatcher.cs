using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace WorkCluster.Cluster.Mesh;

/// <summary>A message name and how to hand its body to the registered handler.</summary>
public sealed record MeshRoute(string Name, Func<IServiceProvider, JsonElement, MeshContext, CancellationToken, Task<MeshEnvelope?>> Invoke);

/// <summary>Hands each message that arrives over the mesh to the handler registered for its name.</summary>
public sealed partial class MeshDispatcher(IServiceProvider services, IEnumerable<MeshRoute> routes, NodeIdentity identity,
    MeshTelemetry telemetry, ILogger<MeshDispatcher> logger)
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private readonly Dictionary<string, MeshRoute> _routes = routes.ToDictionary(r => r.Name, StringComparer.Ordinal);

    /// <summary>Handles a request and returns the reply, or an envelope carrying the error.</summary>
    public async Task<MeshEnvelope> RequestAsync(MeshEnvelope request, CancellationToken cancellationToken)
    {
        telemetry.Received(request.Type);
        if (!_routes.TryGetValue(request.Type, out var route))
        {
            return Error(request.Type, $"no handler for '{request.Type}' on this node");
        }
        try
        {
            return await route.Invoke(services, request.Body, new MeshContext(request.From), cancellationToken)
                ?? Error(request.Type, $"'{request.Type}' is a one-way message, not a request");
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogHandlerFailed(request.Type, request.From, e.Message);
            return Error(request.Type, $"{e.GetType().Name}: {e.Message}");
        }
    }

    /// <summary>Handles a one-way message.</summary>
    public async Task DeliverAsync(MeshEnvelope message, CancellationToken cancellationToken)
    {
        telemetry.Received(message.Type);
        if (!_routes.TryGetValue(message.Type, out var route))
        {
            LogNoHandler(message.Type, message.From);
            return;
        }
        try
        {
            await route.Invoke(services, message.Body, new MeshContext(message.From), cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogHandlerFailed(message.Type, message.From, e.Message);
        }
    }

    public MeshEnvelope Envelope<T>(T body) => new(MeshMessageName.Of<T>(), identity.Id, JsonSerializer.SerializeToElement(body, Json));

    private static readonly JsonElement NoBody = JsonSerializer.SerializeToElement<object?>(null);

    private MeshEnvelope Error(string type, string error) => new(type, identity.Id, NoBody, error);

    /// <summary>Routes request <typeparamref name="TRequest"/> to <typeparamref name="THandler"/>.</summary>
    public static MeshRoute RequestRoute<TRequest, TResponse, THandler>() where THandler : IMeshRequestHandler<TRequest, TResponse> =>
        new(MeshMessageName.Of<TRequest>(), async (services, body, context, cancellationToken) =>
        {
            var request = body.Deserialize<TRequest>(Json)!;
            var response = await services.GetRequiredService<THandler>().HandleAsync(request, context, cancellationToken);
            return new MeshEnvelope(MeshMessageName.Of<TResponse>(), services.GetRequiredService<NodeIdentity>().Id,
                JsonSerializer.SerializeToElement(response, Json));
        });

    /// <summary>Routes one-way message <typeparamref name="TMessage"/> to <typeparamref name="THandler"/>.</summary>
    public static MeshRoute MessageRoute<TMessage, THandler>() where THandler : IMeshMessageHandler<TMessage> =>
        new(MeshMessageName.Of<TMessage>(), async (services, body, context, cancellationToken) =>
        {
            await services.GetRequiredService<THandler>().HandleAsync(body.Deserialize<TMessage>(Json)!, context, cancellationToken);
            return null;
        });

    [LoggerMessage(LogLevel.Warning, "Mesh handler for '{Type}' from {From} failed: {Message}")]
    private partial void LogHandlerFailed(string type, string from, string message);

    [LoggerMessage(LogLevel.Warning, "No handler for mesh message '{Type}' from {From}")]
    private partial void LogNoHandler(string type, string from);
}
