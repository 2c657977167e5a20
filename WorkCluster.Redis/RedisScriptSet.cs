namespace WorkCluster.Redis;

/// <summary>A library's Lua scripts, registered so that <see cref="RedisScriptLoader"/> loads them into Redis.</summary>
public interface IRedisScriptSet
{
    IEnumerable<RedisScript> All { get; }
}
