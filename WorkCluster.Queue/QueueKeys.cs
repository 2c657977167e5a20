using StackExchange.Redis;
using WorkCluster.Redis;

namespace WorkCluster.Queue;

/// <summary>The Redis keys of the work queue (all in one hash-tagged key space).</summary>
public sealed class QueueKeys(RedisKeyspace keyspace)
{
    /// <summary>String, kept <see cref="WorkQueue.ClaimMemory"/> (deleted by the process's next call once the answer came): the ids that the claim (or lease) call of salt <paramref name="salt"/> took, should its answer be lost.</summary>
    public string Claim(string salt) => keyspace.Key("claim:" + salt);

    /// <summary>Hash: job id → job record (JSON).</summary>
    public string Jobs { get; } = keyspace.Key("jobs");

    /// <summary>Hash: job id → submitted data (JSON text), kept until the job is worked (or its failed record goes).</summary>
    public string Payloads { get; } = keyspace.Key("payloads");

    /// <summary>Hash: job id → result (JSON text).</summary>
    public string Results { get; } = keyspace.Key("results");

    /// <summary>Sorted set: finished job id → the time (ms) its record expires.</summary>
    public string Expiry { get; } = keyspace.Key("expiry");

    /// <summary>The queue's name, as traces and metrics name it (<c>messaging.destination.name</c>).</summary>
    public string Queue { get; } = keyspace.Key("queue");

    /// <summary>
    /// Sorted set: id of a job ready to run → its rank (priority first, then first in first out; see
    /// <c>Scripts/includes/ready.lua</c>). Workers claim the lowest rank.
    /// </summary>
    public string Ready { get; } = keyspace.Key("ready");

    /// <summary>
    /// Sorted set: id of a job ready to run whose type only workers of the HTTP lease protocol serve (its record's
    /// <c>lane</c> is <c>http</c>) → its rank, as in <see cref="Ready"/>. The .NET workers never claim from it; HTTP
    /// workers lease from it by type (<c>Scripts/lease.lua</c>).
    /// </summary>
    public string HttpReady { get; } = keyspace.Key("ready:http");

    /// <summary>Counter: the tie-breaker of ranks, for first in first out within a millisecond.</summary>
    public string Sequence { get; } = keyspace.Key("seq");

    /// <summary>Sorted set: id of a delayed job, or of a job waiting for its retry → the time (ms) it falls due.</summary>
    public string Scheduled { get; } = keyspace.Key("scheduled");

    /// <summary>Sorted set: failed job id → the time (ms) it failed. The dead letter.</summary>
    public string Failed { get; } = keyspace.Key("failed");

    /// <summary>Sorted set: cancelled job id → the time (ms) it was cancelled (listed until its record expires).</summary>
    public string Cancelled { get; } = keyspace.Key("cancelled");

    /// <summary>
    /// Sorted set: id of a working job whose cancellation was requested → the time (ms) the sweep revokes its lease
    /// unless its handler has stopped by then (<c>Work:CancelGraceMs</c>).
    /// </summary>
    public string Cancels { get; } = keyspace.Key("cancels");

    /// <summary>Hash: recurring schedule name → its definition and what it fired (JSON).</summary>
    public string Schedules { get; } = keyspace.Key("schedules");

    /// <summary>Sorted set: recurring schedule name → its cursor, the time (ms) of its first occurrence not yet fired.</summary>
    public string ScheduleCursors { get; } = keyspace.Key("schedule-cursors");

    /// <summary>Counter: the revisions of recurring schedules (they rise across a delete and a re-creation).</summary>
    public string ScheduleRevisions { get; } = keyspace.Key("schedule-revisions");

    /// <summary>Hash: Idempotency-Key → "job-id fingerprint".</summary>
    public string Idempotency { get; } = keyspace.Key("idempotency");

    /// <summary>
    /// Hash of cluster-wide totals (<c>worked</c>, <c>failed</c>, <c>recovered</c>, <c>dead_letter_dropped</c>) and the
    /// budgets' byte counters (<c>unfinished_bytes</c>, <c>failed_bytes</c>).
    /// </summary>
    public string Stats { get; } = keyspace.Key("stats");

    /// <summary>List holding at most one wake-up token for idle workers.</summary>
    public string Signal { get; } = keyspace.Key("signal");

    /// <summary>While this key exists, workers claim nothing.</summary>
    public string Paused { get; } = keyspace.Key("paused");

    /// <summary>Sorted set: id of a job being worked → the time (ms) its lease lapses unless renewed.</summary>
    public string Leases { get; } = keyspace.Key("leases");

    /// <summary>Counter: the sequence that every lease's fencing token starts with.</summary>
    public string Fence { get; } = keyspace.Key("fence");

    /// <summary>Pub/sub channel: every change of a job's state, as events (see <c>Scripts/includes/events.lua</c>).</summary>
    public string Events { get; } = keyspace.Events;

    /// <summary>
    /// Sorted set: id of a finished job whose webhook is being delivered → when its next attempt is due (ms), or, while
    /// an attempt runs, when that attempt's lease ends. The delivery's state is the job record's <c>webhook</c>.
    /// </summary>
    public string Webhooks { get; } = keyspace.Key("webhooks");

    /// <summary>
    /// Hash: when the lease sweep last ran (<c>last</c>), since when it has run without a gap (<c>since</c>) and on which run of
    /// the store (<c>swept_run</c>); the run id of the store the last repair pass looked at (<c>run_id</c>), and the cursor
    /// of a pass under way (<c>repair</c>).
    /// </summary>
    public string SweepClock { get; } = keyspace.Key("sweep");

    /// <summary>
    /// The key a script names <paramref name="name"/> in its <c>--! keys:</c> line (the Lua name of the property: <c>jobs</c>
    /// is <see cref="Jobs"/>, <c>http</c> is <see cref="HttpReady"/>).
    /// </summary>
    /// <exception cref="InvalidOperationException">The queue has no key of that name.</exception>
    public RedisKey Named(string name) => name switch
    {
        "jobs" => Jobs,
        "payloads" => Payloads,
        "results" => Results,
        "expiry" => Expiry,
        "ready" => Ready,
        "http" => HttpReady,
        "sequence" => Sequence,
        "scheduled" => Scheduled,
        "failed" => Failed,
        "cancelled" => Cancelled,
        "cancels" => Cancels,
        "schedules" => Schedules,
        "schedule_cursors" => ScheduleCursors,
        "schedule_revisions" => ScheduleRevisions,
        "idempotency" => Idempotency,
        "stats" => Stats,
        "signal" => Signal,
        "paused" => Paused,
        "leases" => Leases,
        "fence" => Fence,
        "events" => Events,
        "webhooks" => Webhooks,
        "sweep_clock" => SweepClock,
        "maintenance" => Maintenance,
        _ => throw new InvalidOperationException($"The queue has no key named '{name}'."),
    };

    /// <summary>Binds <paramref name="script"/>'s keys by name (see <see cref="Named"/>); <paramref name="perCall"/> are given at each call.</summary>
    public ScriptKeys Bind(RedisScript script, params string[] perCall) => ScriptKeys.Bind(script, Named, perCall);

    /// <summary>Hash: upkeep duty → how its last run went (JSON: runner, at, ok, error, took_ms), for the cluster's monitor.</summary>
    public string Maintenance { get; } = keyspace.Key("maintenance");

    /// <summary>String with a TTL of two ticks, renewed by its holder every tick: which process runs maintenance duty <paramref name="duty"/> (<c>turn.lua</c>).</summary>
    public string MaintenanceTurn(string duty) => keyspace.Key("maintenance:" + duty);
}
