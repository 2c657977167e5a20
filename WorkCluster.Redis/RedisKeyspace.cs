using System.ComponentModel.DataAnnotations;

namespace WorkCluster.Redis;

/// <summary>Where WorkCluster's keys live in Redis, from the <c>Work</c> configuration section.</summary>
public sealed class RedisKeyspaceOptions
{
    /// <summary>Every key starts with <c>{KeyPrefix}:</c>.</summary>
    [Required, RegularExpression("^[A-Za-z0-9_.-]{1,32}$")]
    public string KeyPrefix { get; set; } = "wc";
}

/// <summary>
/// Names WorkCluster's Redis keys: <c>{prefix}:name</c>. The braces are a Redis Cluster hash tag, so every key of
/// one WorkCluster lives in one slot and any script may touch any of them (the queue's crash recovery reads the
/// cluster's liveness keys).
/// </summary>
public sealed class RedisKeyspace(string prefix)
{
    private readonly string _root = "{" + prefix + "}:";

    public string Prefix { get; } = prefix;

    public string Key(string name) => _root + name;

    /// <summary>
    /// The pub/sub channel of WorkCluster's events (jobs changing state, members joining and leaving): one channel,
    /// so that a process needs one subscription to hear everything.
    /// </summary>
    public string Events => Key("events");
}
