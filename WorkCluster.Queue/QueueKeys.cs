namespace WorkCluster.Queue;

/// <summary>
/// The Redis keys of one queue. All share the hash tag <c>{prefix}</c>, so on a Redis Cluster they live in one
/// slot and every script can touch all of them.
/// </summary>
public sealed class QueueKeys(string prefix)
{
    private readonly string _root = "{" + prefix + "}:";

    /// <summary>Hash: job id → job record (JSON).</summary>
    public string Jobs => _root + "jobs";

    /// <summary>Hash: job id → submitted data (JSON text), kept until the job is worked.</summary>
    public string Payloads => _root + "payloads";

    /// <summary>Hash: job id → result (JSON text).</summary>
    public string Results => _root + "results";

    /// <summary>Sorted set: finished job id → the time (ms) its record expires.</summary>
    public string Expiry => _root + "expiry";

    /// <summary>List of pending job ids; new ones enter on the left, workers take from the right.</summary>
    public string Queue => _root + "queue";

    /// <summary>List holding at most one wake-up token for idle workers.</summary>
    public string Signal => _root + "signal";

    /// <summary>While this key exists, workers claim nothing.</summary>
    public string Paused => _root + "paused";

    /// <summary>List of the job ids a worker has claimed and not yet finished.</summary>
    public string Processing(string workerId) => _root + "processing:" + workerId;
}
