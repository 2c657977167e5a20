namespace WorkCluster.Handlers;

/// <summary><c>echo</c>: returns the data unchanged.</summary>
public sealed class EchoHandler : IWorkHandler
{
    public Task<object?> HandleAsync(WorkItem item, CancellationToken cancellationToken) =>
        Task.FromResult<object?>(item.Data);
}
