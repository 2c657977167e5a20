using System.Diagnostics;

namespace WorkCluster.Bench;

/// <summary>Samples the resident memory of the app's processes on this machine while a run goes on.</summary>
public sealed class ProcessMemory
{
    private static readonly string[] Names = ["WorkCluster.Api", "WorkCluster.Worker", "WorkCluster.Gateway"];
    private readonly Dictionary<int, (string Name, List<long> Samples)> _samples = [];

    /// <summary>The ids of the app's processes running now (API, worker, gateway), by kind (api, worker, gateway).</summary>
    public static IReadOnlyDictionary<string, int[]> AppProcessIds() =>
        Names.ToDictionary(name => name["WorkCluster.".Length..].ToLowerInvariant(),
            name => Process.GetProcessesByName(name).Select(p => { using (p) return p.Id; }).ToArray());

    public void Sample()
    {
        foreach (var name in Names)
        {
            foreach (var process in Process.GetProcessesByName(name))
            {
                using (process)
                {
                    if (!_samples.TryGetValue(process.Id, out var entry))
                    {
                        _samples[process.Id] = entry = (name, []);
                    }
                    entry.Samples.Add(process.WorkingSet64);
                }
            }
        }
    }

    /// <summary>
    /// Per process: the first sample (before the load), the one a quarter into the run (warmed up: the heaps have
    /// grown to their working size), the last, and the largest. Flat means last ≈ warmed up.
    /// </summary>
    public IReadOnlyList<ProcessRss> Summary() =>
        _samples.OrderBy(s => s.Value.Name).ThenBy(s => s.Key).Select(s => new ProcessRss(
            s.Value.Name, s.Key, s.Value.Samples.Count, Mb(s.Value.Samples[0]), Mb(s.Value.Samples[s.Value.Samples.Count / 4]),
            Mb(s.Value.Samples[^1]), Mb(s.Value.Samples.Max()))).ToArray();

    private static double Mb(long bytes) => Math.Round(bytes / 1024.0 / 1024.0, 1);
}

public sealed record ProcessRss(string Process, int Pid, int Samples, double FirstMb, double WarmMb, double LastMb, double MaxMb);
