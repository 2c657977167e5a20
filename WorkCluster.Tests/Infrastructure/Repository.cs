using System.Diagnostics;

namespace WorkCluster.Tests.Infrastructure;

/// <summary>The repository the tests run from, and running its tools as a user would.</summary>
public static class Repository
{
    /// <summary>The folder that holds WorkCluster.sln.</summary>
    public static string Root { get; } = FindRoot();

    /// <summary>The build configuration these tests were built in (the AppHost was built with them).</summary>
    public static string Configuration { get; } =
        AppContext.BaseDirectory.Split(Path.DirectorySeparatorChar).Contains("Release") ? "Release" : "Debug";

    public static string PathOf(string relative) => Path.Combine(Root, relative);

    /// <summary>Runs a program to its end; returns its exit code and everything it printed.</summary>
    public static async Task<(int ExitCode, string Output)> RunAsync(string fileName, IEnumerable<string> arguments,
        IDictionary<string, string>? environment = null, string? workingDirectory = null, TimeSpan? timeout = null)
    {
        var (exitCode, stdout, stderr) = await RunSeparatelyAsync(fileName, arguments, environment, workingDirectory, timeout);
        return (exitCode, stdout + stderr);
    }

    /// <summary>Runs a program to its end; returns its exit code, its standard output and its standard error.</summary>
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunSeparatelyAsync(string fileName, IEnumerable<string> arguments,
        IDictionary<string, string>? environment = null, string? workingDirectory = null, TimeSpan? timeout = null)
    {
        var start = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workingDirectory ?? Root,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{fileName} did not start.");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cancel = new CancellationTokenSource(timeout ?? TimeSpan.FromMinutes(3));
        await process.WaitForExitAsync(cancel.Token);
        return (process.ExitCode, await stdout, await stderr);
    }

    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "WorkCluster.sln")))
            {
                return directory.FullName;
            }
        }
        throw new InvalidOperationException("WorkCluster.sln not found above the test assembly.");
    }
}
