using StackExchange.Redis;

namespace WorkCluster.Redis;

/// <summary>Tells a Redis that is out of reach, or reachable but not serving yet, from a real error.</summary>
public static class RedisAvailability
{
    // Errors a server answers while it cannot serve for now: loading its AOF/RDB after a restart, busy in a
    // long script, without a reachable primary, or a replica during a failover.
    private static readonly string[] TransientServerErrors = ["LOADING ", "BUSY ", "MASTERDOWN ", "TRYAGAIN ", "READONLY "];

    /// <summary>True if <paramref name="exception"/> means "Redis is unavailable, try again later".</summary>
    public static bool IsUnavailable(Exception exception) => exception switch
    {
        RedisConnectionException or RedisTimeoutException => true,
        RedisServerException server => TransientServerErrors.Any(prefix => server.Message.StartsWith(prefix, StringComparison.Ordinal)),
        _ => false,
    };
}
