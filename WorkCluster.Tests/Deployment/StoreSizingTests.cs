using Microsoft.Extensions.Configuration;

namespace WorkCluster.Tests.Deployment;

/// <summary>The embedded store's memory options from Redis:MaxMemory: bytes as Redis counts them, and a page Garnet accepts.</summary>
public sealed class StoreSizingTests
{
    [Theory]
    [InlineData("1gb", 1073741824L, 16777216L)]
    [InlineData("32mb", 33554432L, 2097152L)]
    [InlineData("100m", 100000000L, 4194304L)]   // Redis's m is 10^6; Garnet's would be 2^20: passed in bytes
    [InlineData("2g", 2000000000L, 16777216L)]   // the page stays at 16 MB: the append-only file's 32 MB pages hold two
    [InlineData("2mb", 2097152L, 131072L)]
    public void Garnet_gets_the_limit_in_bytes_and_a_page_of_at_most_a_sixteenth_of_it(string maxMemory, long bytes, long page)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection([new("Redis:MaxMemory", maxMemory)]).Build();
        var limit = Aspire.Hosting.RedisMemoryLimit.From(configuration);

        Assert.Equal(bytes.ToString(), limit.GarnetMemory);
        Assert.Equal(page.ToString(), limit.GarnetPage);
        Assert.True(long.IsPow2(page) && page * 16 <= Math.Max(bytes, 512 * 16), "a power of two, sixteen of which fit the limit");
    }
}
