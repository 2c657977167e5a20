namespace WorkCluster.Handlers;

/// <summary><c>noop</c>: does nothing and returns null: the cost of the queue itself, for benchmarks.</summary>
public sealed class NoopHandler : IWorkHandler
{
    public Task<object?> HandleAsync(WorkItem item, CancellationToken cancellationToken) => Task.FromResult<object?>(null);
}
