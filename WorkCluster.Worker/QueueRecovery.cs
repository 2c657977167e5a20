using WorkCluster.Cluster;
using WorkCluster.Queue;

namespace WorkCluster.Worker;

/// <summary>When a worker dies, its jobs go back to the head of the queue (or fail, if out of attempts).</summary>
public sealed partial class QueueRecovery(WorkQueue queue, ILogger<QueueRecovery> logger) : IDeadNodeHandler
{
    public async Task OnNodeDeadAsync(string nodeId, string livenessKey, CancellationToken cancellationToken)
    {
        var result = await queue.RecoverAsync(nodeId, livenessKey);
        if (result.Requeued + result.Failed > 0)
        {
            LogRecovered(nodeId, result.Requeued, result.Failed);
        }
    }

    [LoggerMessage(LogLevel.Warning, "Worker {WorkerId} died: {Requeued} of its jobs went back to the queue, {Failed} had no attempts left and failed")]
    private partial void LogRecovered(string workerId, int requeued, int failed);
}
