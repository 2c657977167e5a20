using WorkCluster.Queue;

namespace WorkCluster.Tests.Queue;

internal static class QueueTestExtensions
{
    /// <summary>Submits a job (echo unless <paramref name="type"/> says otherwise) and returns its id (fails the test unless a job was created).</summary>
    public static async Task<string> SubmitAsync(this WorkQueue queue, string data = "1", string type = "echo")
    {
        var result = await queue.EnqueueAsync(type, data, "api-test");
        Assert.Equal(QueueOutcome.Created, result.Outcome);
        return result.Id!;
    }
}
