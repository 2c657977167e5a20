using StackExchange.Redis;

namespace WorkCluster.Tests.Infrastructure;

/// <summary>Waiting for a distributed system to get somewhere: poll a condition until it holds, or fail.</summary>
public static class Eventually
{
    public static readonly TimeSpan DefaultPatience = TimeSpan.FromMinutes(2);

    /// <summary>Polls <paramref name="condition"/> every 50 ms until it holds; fails the test with <paramref name="failure"/> after <paramref name="patience"/>.
    /// Redis and HTTP errors on the way count as "not yet".</summary>
    public static async Task HoldsAsync(Func<Task<bool>> condition, string failure, TimeSpan? patience = null)
    {
        var deadline = DateTime.UtcNow + (patience ?? DefaultPatience);
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                if (await condition())
                {
                    return;
                }
            }
            catch (Exception e) when (e is RedisException or HttpRequestException or TimeoutException)
            {
            }
            await Task.Delay(50);
        }
        Assert.Fail(failure);
    }
}
