namespace WorkCluster.Redis;

/// <summary>
/// How WorkCluster runs a store, in one place for the AppHost, the tests and the benchmark: the persistence and script
/// settings of redis-server and of the embedded Garnet store (<c>WorkCluster.Store</c>) for a <see cref="Durability"/>.
/// </summary>
public static class StoreArguments
{
    /// <summary>redis-server's <c>appendfsync</c>: fsync before every reply (<c>always</c>), or once a second (<c>everysec</c>).</summary>
    public static string AppendFsync(Durability durability) => durability == Durability.Acknowledged ? "always" : "everysec";

    /// <summary>redis-server's persistence: the append-only file (fsynced by <paramref name="durability"/>), no snapshots.</summary>
    public static IEnumerable<string> RedisServerPersistence(Durability durability) =>
        ["--appendonly", "yes", "--appendfsync", AppendFsync(durability), "--save", ""];

    /// <summary>
    /// Garnet's scripts and persistence. Scripts run as transactions (without it, read-then-write scripts lose updates;
    /// only keys passed in KEYS are locked). The append-only file on the RandomAccess device (the default device crashes on
    /// Debian 12), replayed at start over the last checkpoint in <paramref name="dataDirectory"/>. The durability is the
    /// services' part (<see cref="StoreCommit"/>: COMMITAOF after a durable write); COMMITAOF holds a thread until its
    /// commit is written, and the write itself needs one: threads enough from the start, not added one a second.
    /// </summary>
    public static IEnumerable<string> GarnetPersistence(string dataDirectory) =>
        ["--lua", "--lua-transaction-mode", "--aof", "--device-type", "RandomAccess", "--checkpointdir", dataDirectory, "--recover", "-i", "16m",
            "--minthreads", "64"];
}
