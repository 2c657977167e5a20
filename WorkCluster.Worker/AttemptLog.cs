using System.Text;
using Microsoft.Extensions.Options;
using WorkCluster.Cluster;

namespace WorkCluster.Worker;

/// <summary>
/// An append-only record of every attempt this worker starts (<c>Worker:AttemptLog</c>, a file path; unset: none), one
/// line each: job id, attempt, process id, worker id. Every worker of a host may share the file: each line is one
/// append. It shows, outside the store, which job ran where and how often (the store-crash tests count runs by it).
/// </summary>
public sealed class AttemptLog : IDisposable
{
    private readonly FileStream? _file;
    private readonly string _suffix;
    private readonly Lock _lock = new();

    public AttemptLog(IOptions<WorkerOptions> options, NodeIdentity identity)
    {
        _suffix = $" {Environment.ProcessId} {identity.Id}\n";
        if (options.Value.AttemptLog is { Length: > 0 } path)
        {
            _file = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete, 1, FileOptions.None);
        }
    }

    /// <summary>Notes that attempt <paramref name="attempt"/> of job <paramref name="jobId"/> starts here.</summary>
    public void Started(string jobId, int attempt)
    {
        if (_file is null)
        {
            return;
        }
        var line = Encoding.UTF8.GetBytes($"{jobId} {attempt}{_suffix}");
        lock (_lock)
        {
            _file.Write(line); // one write(2) with O_APPEND: lines of processes sharing the file do not interleave
        }
    }

    public void Dispose() => _file?.Dispose();
}
