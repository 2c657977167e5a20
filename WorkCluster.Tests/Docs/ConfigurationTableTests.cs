using System.Reflection;
using System.Text.RegularExpressions;
using WorkCluster.Cluster;
using WorkCluster.Queue;
using WorkCluster.Queue.Schedules;
using WorkCluster.Redis;
using WorkCluster.Tests.Infrastructure;
using WorkCluster.Webhooks;
using WorkCluster.Worker;

namespace WorkCluster.Tests.Docs;

/// <summary>
/// The Configuration table (docs/configuration.md) names every setting the services read from the sections bound to
/// options classes, and names no such setting that does not exist: a setting added or renamed without its row fails
/// here.
/// </summary>
public sealed partial class ConfigurationTableTests
{
    private static readonly (string Section, Type Options)[] Bound =
    [
        (QueueOptions.SectionName, typeof(QueueOptions)),
        ("Work", typeof(RedisKeyspaceOptions)),
        (WorkerOptions.SectionName, typeof(WorkerOptions)),
        (ClusterOptions.SectionName, typeof(ClusterOptions)),
        (WebhookOptions.SectionName, typeof(WebhookOptions)),
        (ScheduleOptions.SectionName, typeof(ScheduleOptions)),
        (StoreDurabilityOptions.SectionName, typeof(StoreDurabilityOptions)),
        ("Work", typeof(WorkCluster.Handlers.WorkTypeOptions)),
    ];

    [Fact]
    [Trait("Category", "Unit")]
    public void Every_bound_setting_has_a_row_in_the_configuration_table()
    {
        var documented = DocumentedKeys();
        var missing = Bound
            .SelectMany(b => Settable(b.Options).Select(p => $"{b.Section}:{p.Name}"))
            .Where(key => !documented.Any(d => d == key || d.StartsWith(key + ":", StringComparison.Ordinal)))
            .ToList();
        Assert.Empty(missing);
    }

    [Fact]
    [Trait("Category", "Unit")]
    public void Every_row_of_a_bound_section_names_a_setting_that_exists()
    {
        var known = Bound.SelectMany(b => Settable(b.Options).Select(p => $"{b.Section}:{p.Name}")).ToHashSet();
        var sections = Bound.Select(b => b.Section).ToHashSet();
        // Rows of the bound sections read elsewhere (the AppHost's own settings, the demo handlers' settings).
        string[] readElsewhere = ["Worker:Replicas", "Redis:Mode", "Redis:MaxMemory", "Redis:MaxMemoryPolicy", "Redis:DataDirectory",
            "Work:SleepMs", "Work:MaxPayloadBytes", "Work:MaxWaitSeconds", "Work:MaxDelay"];
        var unknown = DocumentedKeys()
            .Where(key => sections.Contains(key.Split(':')[0]))
            .Select(key => string.Join(':', key.Split(':').Take(2)))
            .Where(key => !known.Contains(key) && !readElsewhere.Contains(key))
            .Distinct()
            .ToList();
        Assert.Empty(unknown);
    }

    private static IEnumerable<PropertyInfo> Settable(Type options) =>
        options.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.SetMethod is { IsPublic: true });

    /// <summary>The keys named in the first cell of each row of the Configuration table (docs/configuration.md).</summary>
    private static List<string> DocumentedKeys()
    {
        var doc = File.ReadAllText(Repository.PathOf("docs/configuration.md"));
        var start = doc.IndexOf("# Configuration", StringComparison.Ordinal);
        Assert.True(start >= 0, "docs/configuration.md has no Configuration heading");
        var section = doc[start..];
        var end = section.IndexOf("\n## ", 3, StringComparison.Ordinal);
        section = end > 0 ? section[..end] : section;
        var keys = new List<string>();
        foreach (var line in section.Split('\n').Where(l => l.StartsWith("| `", StringComparison.Ordinal)))
        {
            var cell = line.Split('|')[1];
            foreach (Match key in KeyPattern().Matches(cell))
            {
                var name = key.Groups[1].Value;
                keys.Add(name.StartsWith(':') ? "" : name);
            }
            // `A:B:PerSecond`, `:Burst`: a second key that continues the first's prefix.
            var first = keys.LastOrDefault(k => k.Length > 0);
            foreach (Match continuation in ContinuationPattern().Matches(cell))
            {
                if (first is not null)
                {
                    keys.Add(string.Join(':', first.Split(':')[..^1]) + continuation.Groups[1].Value);
                }
            }
        }
        return keys.Where(k => k.Length > 0).Select(k => Regex.Replace(k, "<[^>]+>.*$", "").TrimEnd(':')).ToList();
    }

    [GeneratedRegex(@"`([A-Za-z][A-Za-z0-9]*(?::[A-Za-z0-9<>\-\.]+)+)`")]
    private static partial Regex KeyPattern();

    [GeneratedRegex(@"`(:[A-Za-z0-9]+)`")]
    private static partial Regex ContinuationPattern();
}
