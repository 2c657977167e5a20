using WorkCluster.Queue;

namespace WorkCluster.Tests.Queue;

internal static class QueueTestExtensions
{
    /// <summary>Submits an echo job and returns its id (fails the test unless a job was created).</summary>
    public static async Task<string> SubmitAsync(this WorkQueue queue, string data = "1")
    {
        var result = await queue.EnqueueAsync("echo", data, "api-test");
        Assert.Equal(EnqueueOutcome.Created, result.Outcome);
        return result.Id!;
    }
}
