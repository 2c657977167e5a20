using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.Options;
using WorkCluster.Cluster;
using WorkCluster.Cluster.Mesh;
using WorkCluster.Handlers;

namespace WorkCluster.Worker;

/// <summary><c>run</c>: a peer (or the API) asks this worker to run work directly and wait for the result, outside the queue.</summary>
public sealed class RunWorkHandler(WorkTypes types, IOptions<WorkTypeOptions> options, NodeIdentity identity)
    : IMeshRequestHandler<RunWork, RunWorkResult>
{
    public async Task<RunWorkResult> HandleAsync(RunWork request, MeshContext context, CancellationToken cancellationToken)
    {
        var handler = types.GetHandler(request.Type)
            ?? throw new InvalidOperationException($"This worker has no handler for work type '{request.Type}'.");
        var timeout = options.Value.TimeoutFor(request.Type);
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cancel.CancelAfter(timeout);

        var started = Stopwatch.GetTimestamp();
        var raw = request.Data.GetRawText();
        var result = await handler.HandleAsync(new WorkItem($"mesh-{Guid.NewGuid():N}", request.Type, request.Data, raw, 1), cancel.Token)
            .WaitAsync(timeout, cancellationToken);
        return new RunWorkResult(identity.Id, request.Type, JsonSerializer.SerializeToElement(result),
            Math.Round(Stopwatch.GetElapsedTime(started).TotalMilliseconds, 3));
    }
}
