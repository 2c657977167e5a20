namespace WorkCluster.Tests.Infrastructure;

/// <summary>
/// Which store the suite runs on: redis-server, or the embedded Garnet store (<c>WorkCluster.Store</c>) when
/// <c>WORKCLUSTER_STORE=garnet</c> or no redis-server is installed (<c>WORKCLUSTER_STORE=redis-server</c> insists on it).
/// </summary>
public static class TestStore
{
    public static bool IsGarnet { get; } = Environment.GetEnvironmentVariable("WORKCLUSTER_STORE")?.ToLowerInvariant() switch
    {
        "garnet" => true,
        // Asked for by name (as .ci/run does): a missing redis-server is an error, not a quiet switch to Garnet.
        "redis-server" => Tools.IsInstalled("redis-server")
            ? false
            : throw new InvalidOperationException("WORKCLUSTER_STORE=redis-server, but redis-server is not installed."),
        _ => !Tools.IsInstalled("redis-server"),
    };

    public static string Name => IsGarnet ? "garnet" : "redis-server";

    /// <summary>The built embedded store (the test project builds it).</summary>
    public static string GarnetAssembly => Repository.PathOf($"WorkCluster.Store/bin/{Repository.Configuration}/net10.0/WorkCluster.Store.dll");

    /// <summary>Skips the test on Garnet, saying why (what only redis-server has).</summary>
    public static void SkipOnGarnet(string redisServerOnly) =>
        Skip.If(IsGarnet, $"Runs on redis-server only: {redisServerOnly}. This run's store is Garnet (WORKCLUSTER_STORE=garnet, or no redis-server installed).");
}

/// <summary>The command-line tools some tests need, and what to do when one is missing.</summary>
public static class Tools
{
    /// <summary>Set (WORKCLUSTER_REQUIRE_TOOLS=1, as .ci/run does): a missing tool fails the test instead of skipping it.</summary>
    public static bool Required => Environment.GetEnvironmentVariable("WORKCLUSTER_REQUIRE_TOOLS") == "1";

    public static bool IsInstalled(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Any(directory => File.Exists(Path.Combine(directory, tool)));

    /// <summary>Skips the test when <paramref name="tool"/> is not on the PATH, naming what to install (fails instead where tools are required).</summary>
    public static void Need(string tool, string install)
    {
        if (IsInstalled(tool))
        {
            return;
        }
        var message = $"{tool} is not installed: {install}";
        Assert.False(Required, $"{message} (WORKCLUSTER_REQUIRE_TOOLS=1: a missing tool is a failure)");
        Skip.If(true, message);
    }
}
