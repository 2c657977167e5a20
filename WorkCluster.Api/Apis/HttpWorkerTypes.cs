using WorkCluster.Cluster;

namespace WorkCluster.Api.Apis;

/// <summary>
/// The work types that live workers of the HTTP lease protocol serve, as the cluster registry tells (each worker
/// registers the types it leases). Read again at most once a second, and only when a submission names a type no .NET
/// handler serves: the path of every other submission does not pay for it.
/// </summary>
public sealed class HttpWorkerTypes(ClusterRegistry registry, TimeProvider time)
{
    private static readonly TimeSpan FreshFor = TimeSpan.FromSeconds(1);
    private readonly SemaphoreSlim _gate = new(1, 1);
    private IReadOnlySet<string> _types = new HashSet<string>();
    private DateTimeOffset _readAt = DateTimeOffset.MinValue;

    /// <summary>Every work type there is, for a problem that names them: the .NET handlers' and then <paramref name="served"/>, each in order.</summary>
    public static string[] Known(WorkCluster.Handlers.WorkTypes types, IReadOnlySet<string>? served) =>
        [.. types.Names, .. (served ?? new HashSet<string>()).Order(StringComparer.Ordinal)];

    public async Task<IReadOnlySet<string>> GetAsync()
    {
        if (time.GetUtcNow() - _readAt < FreshFor)
        {
            return _types;
        }
        await _gate.WaitAsync();
        try
        {
            if (time.GetUtcNow() - _readAt >= FreshFor)
            {
                var members = await registry.GetMembersAsync();
                _types = members.Where(m => !m.InMesh).SelectMany(m => m.WorkTypes).ToHashSet(StringComparer.Ordinal);
                _readAt = time.GetUtcNow();
            }
            return _types;
        }
        finally
        {
            _gate.Release();
        }
    }
}
