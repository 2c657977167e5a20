using System.ComponentModel.DataAnnotations;

namespace WorkCluster.Worker;

/// <summary>Settings of a worker process, from the <c>Worker</c> configuration section.</summary>
public sealed class WorkerOptions
{
    public const string SectionName = "Worker";

    /// <summary>How many jobs this process runs at once.</summary>
    [Range(1, 10_000)]
    public int Concurrency { get; set; } = 16;
}

/// <summary>
/// This worker's id: its instance name plus a random suffix, so that a restarted process never mistakes the jobs
/// of its previous life for its own.
/// </summary>
public sealed record WorkerIdentity(string Id)
{
    public static WorkerIdentity Create(string instanceName) =>
        new($"{instanceName}-{Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(2))}");
}
