using System.Text.RegularExpressions;
using System.Xml.Linq;
using WorkCluster.Tests.Infrastructure;

namespace WorkCluster.Tests.Deployment;

/// <summary>
/// The Dockerfile's restore layer copies the project file of every project the image's project depends on, however
/// deep, for each project the generated compose file builds with it: a reference added to a service without its COPY
/// line would make <c>dotnet restore</c> in the image fail.
/// </summary>
public sealed partial class DockerfileTests
{
    [Fact]
    [Trait("Category", "Unit")]
    public void The_restore_layer_copies_every_project_file_each_built_service_depends_on()
    {
        var compose = File.ReadAllText(Repository.PathOf("docker-compose.yml"));
        var built = BuildProjectPattern().Matches(compose).Select(m => m.Groups[1].Value).Distinct().ToList();
        Assert.Contains("WorkCluster.Api", built);
        Assert.Contains("WorkCluster.Worker", built);

        var dockerfile = File.ReadAllText(Repository.PathOf("Dockerfile"));
        var copied = CopyProjectPattern().Matches(dockerfile).Select(m => m.Groups[1].Value).ToHashSet();
        var missing = built
            .SelectMany(project => DependenciesOf(project).Select(dependency => $"{project} needs {dependency}"))
            .Where(need => !copied.Contains(need.Split(" needs ")[1]))
            .ToList();
        Assert.Empty(missing);
    }

    /// <summary>The projects <paramref name="project"/> references, directly or through others.</summary>
    private static HashSet<string> DependenciesOf(string project)
    {
        var found = new HashSet<string>();
        var pending = new Stack<string>([project]);
        while (pending.TryPop(out var next))
        {
            var file = Repository.PathOf(Path.Combine(next, next + ".csproj"));
            foreach (var reference in XDocument.Load(file).Descendants("ProjectReference"))
            {
                var name = Path.GetFileNameWithoutExtension(reference.Attribute("Include")!.Value.Replace('\\', '/'));
                if (found.Add(name))
                {
                    pending.Push(name);
                }
            }
        }
        return found;
    }

    [GeneratedRegex(@"PROJECT:\s*(\S+)")]
    private static partial Regex BuildProjectPattern();

    [GeneratedRegex(@"^COPY\s+(\S+)/\1\.csproj\s+\1/\s*$", RegexOptions.Multiline)]
    private static partial Regex CopyProjectPattern();
}
