using StackExchange.Redis;

namespace WorkCluster.Redis;

/// <summary>Tells a Redis that is out of reach, or reachable but not serving now, from a real error.</summary>
public static class RedisAvailability
{
    // Errors a server answers while it cannot serve for now: loading its AOF/RDB after a restart, busy in a
    // long script, without a reachable primary, a replica during a failover, refusing writes at its maxmemory (OOM)
    // or because its last snapshot failed (MISCONF), or a user without the permission (NOPERM: an operator's
    // misconfigured ACL, not the client's fault).
    private static readonly string[] TransientServerErrors =
        ["LOADING ", "BUSY ", "MASTERDOWN ", "TRYAGAIN ", "READONLY ", "OOM ", "MISCONF ", "NOPERM "];

    /// <summary>True if <paramref name="exception"/> means "Redis is unavailable, try again later".</summary>
    public static bool IsUnavailable(Exception exception) => exception switch
    {
        RedisConnectionException or RedisTimeoutException => true,
        RedisServerException server => TransientServerErrors.Any(prefix => server.Message.StartsWith(prefix, StringComparison.Ordinal)),
        _ => false,
    };

    /// <summary>True if Redis refused a write because it holds its <c>maxmemory</c>.</summary>
    public static bool IsOutOfMemory(Exception exception) =>
        exception is RedisServerException server && server.Message.StartsWith("OOM ", StringComparison.Ordinal);
}
