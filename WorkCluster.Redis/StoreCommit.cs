using StackExchange.Redis;

namespace WorkCluster.Redis;

/// <summary>What the store's answer to a write promises (<c>Redis:Durability</c>).</summary>
public enum Durability
{
    /// <summary>
    /// A write the services act on (a submission, a claim, an outcome) is acted on only once it is on the store's disk, so
    /// a crash of the store (kill -9) right after a 202 loses nothing: redis-server runs with <c>appendfsync always</c>
    /// (set where it is started), and on the embedded Garnet store, which answers before its append-only file has the
    /// write, each such script call is followed by <c>COMMITAOF</c> (see <see cref="StoreCommit"/>).
    /// </summary>
    Acknowledged,

    /// <summary>
    /// Answers as soon as the store has the write in memory: redis-server with <c>appendfsync everysec</c>, Garnet without
    /// commits. A crash of the store can lose about the last second of acknowledged writes.
    /// </summary>
    Fast,
}

/// <summary>The store's durability as the services see it, from the <c>Redis</c> configuration section.</summary>
public sealed class StoreDurabilityOptions
{
    public const string SectionName = "Redis";

    public Durability Durability { get; set; } = Durability.Acknowledged;
}

/// <summary>
/// Makes a script call's writes durable before its answer is used, on a store that answers first. Garnet answers a write
/// before the record of it in its append-only file is handed to the operating system; its <c>COMMITAOF</c> answers once
/// every record logged before it (by any client) is written. Sent right behind the script call on the same connection,
/// it costs no extra round trip, and with group commit one commit covers a whole batch of jobs. redis-server needs none
/// (with <c>appendfsync always</c> it fsyncs before it sends any reply) and does not know the command: the first answer
/// tells which store this is, and from then on nothing more is sent to redis-server.
/// </summary>
public sealed class StoreCommit(Durability durability)
{
    private const string Command = "COMMITAOF";

    // 0: not known yet; 1: the store commits on request (Garnet); 2: it has no such command (redis-server).
    private volatile int _store;

    public Durability Durability { get; } = durability;

    /// <summary>Whether script calls that must be durable are followed by a commit.</summary>
    public bool Commits => Durability == Durability.Acknowledged && _store != 2;

    /// <summary>True once the store has answered a commit (it is Garnet, or another store that commits on request).</summary>
    public bool StoreCommitsOnRequest => _store == 1;

    /// <summary>Sends the commit now, behind whatever this caller sent before on <paramref name="database"/>'s connection.</summary>
    public Task<RedisResult> SendAsync(IDatabaseAsync database) => database.ExecuteAsync(Command);

    /// <summary>
    /// Waits for a commit sent with <see cref="SendAsync"/>: returns once the writes before it are durable, or throws
    /// (the store went away: whether they are durable is not known). A store without the command (redis-server) needs none.
    /// </summary>
    public async Task CompleteAsync(Task<RedisResult> commit)
    {
        try
        {
            await commit.ConfigureAwait(false);
            _store = 1;
        }
        catch (RedisServerException e) when (e.Message.Contains("unknown command", StringComparison.OrdinalIgnoreCase))
        {
            _store = 2;
        }
    }
}
