using System.Diagnostics;

namespace WorkCluster.Tests.Infrastructure;

/// <summary>Finds processes by parentage on Linux (/proc).</summary>
public static class ProcessTree
{
    /// <summary>
    /// <paramref name="pid"/> if it is the application itself; if it is a <c>dotnet run</c> launcher, its child
    /// that runs the application.
    /// </summary>
    public static Process FindApplication(int pid)
    {
        if (!IsDotnetRun(pid))
        {
            return Process.GetProcessById(pid);
        }
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            var child = Children(pid).FirstOrDefault();
            if (child != 0)
            {
                return Process.GetProcessById(child);
            }
            Thread.Sleep(50);
        }
        throw new InvalidOperationException($"Process {pid} runs 'dotnet run' but has no child process.");
    }

    /// <summary>Sends a POSIX signal (e.g. 9 = SIGKILL, 15 = SIGTERM).</summary>
    public static void Signal(Process process, int signal)
    {
        using var kill = Process.Start("kill", [$"-{signal}", process.Id.ToString()]);
        kill.WaitForExit();
        Assert.Equal(0, kill.ExitCode);
    }

    /// <summary>
    /// Waits for <paramref name="process"/> to exit, at most <paramref name="timeout"/> (default 1 minute); a process
    /// that does not fails the test instead of holding up the run.
    /// </summary>
    public static async Task WaitForExitAsync(Process process, TimeSpan? timeout = null)
    {
        using var cancel = new CancellationTokenSource(timeout ?? TimeSpan.FromMinutes(1));
        try
        {
            await process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            Assert.Fail($"process {process.Id} did not exit within {timeout ?? TimeSpan.FromMinutes(1)}");
        }
    }

    private static bool IsDotnetRun(int pid)
    {
        var args = File.ReadAllText($"/proc/{pid}/cmdline").Split('\0', StringSplitOptions.RemoveEmptyEntries);
        return args.Length > 1 && Path.GetFileName(args[0]) == "dotnet" && args[1] == "run";
    }

    private static IEnumerable<int> Children(int pid)
    {
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), out var candidate))
            {
                continue;
            }
            string stat;
            try
            {
                stat = File.ReadAllText(Path.Combine(directory, "stat"));
            }
            catch (IOException)
            {
                continue;
            }
            // pid (comm) state ppid ...: comm may hold spaces, so read after its closing parenthesis.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            if (int.Parse(fields[1]) == pid)
            {
                yield return candidate;
            }
        }
    }
}
