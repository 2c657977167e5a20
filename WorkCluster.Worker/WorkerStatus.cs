using WorkCluster.Cluster;
using WorkCluster.Handlers;

namespace WorkCluster.Worker;

/// <summary>This worker's load, counted as jobs start and end, and reported with every heartbeat.</summary>
public sealed class WorkerStatus(WorkTypes types) : INodeStatus
{
    private int _inFlight;
    private long _processed;

    /// <summary>Jobs running in this process right now.</summary>
    public int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>Jobs this process has finished (worked, or failed an attempt) since it started.</summary>
    public long Processed => Interlocked.Read(ref _processed);

    public void Started() => Interlocked.Increment(ref _inFlight);

    public void Ended(bool finished)
    {
        Interlocked.Decrement(ref _inFlight);
        if (finished)
        {
            Interlocked.Increment(ref _processed);
        }
    }

    public NodeInfo Describe(NodeInfo basic) => basic with
    {
        WorkTypes = types.Names,
        InFlight = InFlight,
        Processed = Processed,
    };
}
