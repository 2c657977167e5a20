using WorkCluster.Cluster;
using WorkCluster.Cluster.Mesh;
using WorkCluster.Queue;

namespace WorkCluster.Worker;

/// <summary><c>cancel-job</c>: the API tells this worker that a job it runs was cancelled; its handler is asked to stop.</summary>
public sealed class CancelJobHandler(LeaseKeeper leases, NodeIdentity identity) : IMeshRequestHandler<CancelJob, CancelJobReply>
{
    public Task<CancelJobReply> HandleAsync(CancelJob request, MeshContext context, CancellationToken cancellationToken) =>
        Task.FromResult(new CancelJobReply(identity.Id, leases.RequestCancel(new JobLease(request.Id, request.Lease), $"told by {context.From}")));
}
