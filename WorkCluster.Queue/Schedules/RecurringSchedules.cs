using System.Buffers.Text;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;
using WorkCluster.Redis;

namespace WorkCluster.Queue.Schedules;

/// <summary>What a recurring schedule makes: a job of <see cref="Type"/> with <see cref="Data"/> (JSON text) at every occurrence of <see cref="Cron"/>.</summary>
public sealed record ScheduleDefinition(string Cron, string TimeZone, string Type, string Data, int Priority = JobOptions.DefaultPriority);

/// <summary>A recurring schedule as stored: its definition, its cursor (next occurrence to fire), and what it fired.</summary>
/// <param name="IdSalt">Random, fixed when the schedule is first created: part of its jobs' ids, so that they cannot be guessed from its name.</param>
public sealed record ScheduleView(
    string Name,
    ScheduleDefinition Definition,
    long Revision,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    DateTimeOffset? NextOccurrence,
    DateTimeOffset? LastOccurrence,
    string? LastJob,
    long Fired,
    long Missed,
    long Refused,
    string IdSalt);

/// <summary>
/// Recurring schedules in Redis: each has a cursor, its first occurrence not yet fired. Any number of runners (every API
/// and worker replica) step the cursors of the schedules that are due; each step is one atomic script that lands only
/// from the cursor its runner read, so every occurrence makes exactly one job (its id derived from the schedule's name and
/// the occurrence), across restarts and whoever runs.
/// </summary>
public sealed partial class RecurringSchedules(IConnectionMultiplexer redis, QueueScripts scripts, QueueKeys keys,
    IOptions<QueueOptions> queueOptions, IOptions<ScheduleOptions> options, QueueTelemetry telemetry, StoreCommit commit,
    ILogger<RecurringSchedules> logger)
{
    /// <summary>The schedules this process has warned of (their time zone unknown here): once each.</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> _unknownZones = new(StringComparer.Ordinal);

    private readonly ScriptKeys _putKeys = keys.Bind(scripts.SchedulePut);
    private readonly ScriptKeys _deleteKeys = keys.Bind(scripts.ScheduleDelete);
    private readonly ScriptKeys _fireKeys = keys.Bind(scripts.ScheduleFire);
    private readonly ScriptKeys _readKeys = keys.Bind(scripts.Schedules);

    private const int DueBatch = 100;
    private const int MostStepsPerSchedule = 1000;
    private const int MostCounted = 1_000_000;

    private IDatabase Db => redis.GetDatabase();

    /// <summary>
    /// Creates or replaces schedule <paramref name="name"/>; its cursor starts at its next occurrence after now on
    /// Redis's clock (so never at an occurrence already fired). Returns the schedule as stored (null only if it was
    /// deleted meanwhile).
    /// </summary>
    public async Task<(QueueOutcome Outcome, ScheduleView? Schedule)> PutAsync(string name, ScheduleDefinition definition, CronSchedule cron)
    {
        var stored = new StoredSchedule
        {
            Cron = definition.Cron, TimeZone = definition.TimeZone, Type = definition.Type, Data = definition.Data, Priority = definition.Priority,
            Salt = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8)),
        };
        var json = JsonSerializer.Serialize(stored, QueueJson.Default.StoredSchedule);
        for (var attempt = 0; ; attempt++)
        {
            var now = (await ReadAsync("one", name).ConfigureAwait(false)).Now;
            if (cron.Next(now) is not { } first)
            {
                return (QueueOutcome.NeverOccurs, null);
            }
            var reply = (RedisResult[])(await scripts.SchedulePut.EvaluateAsync(Db, _putKeys.Keys(),
                [name, json, first.ToUnixTimeMilliseconds(), options.Value.MaxSchedules], commit).ConfigureAwait(false))!;
            switch (QueueOutcomes.Parse((RedisValue)reply[0]))
            {
                case QueueOutcome.TooMany:
                    return (QueueOutcome.TooMany, null);
                case QueueOutcome.Stale when attempt < 3:
                    continue; // the occurrence came between the read of the clock and the write
                case QueueOutcome.Stale:
                    throw new InvalidOperationException($"Schedule '{name}': its next occurrence kept coming before it could be stored.");
                case var made and (QueueOutcome.Created or QueueOutcome.Replaced):
                    return (made, await GetAsync(name).ConfigureAwait(false));
                case var other:
                    throw new InvalidDataException($"schedule_put.lua answered {other.Name()}.");
            }
        }
    }

    /// <summary>Schedule <paramref name="name"/>, or null.</summary>
    public async Task<ScheduleView?> GetAsync(string name) => (await ReadAsync("one", name).ConfigureAwait(false)).Schedules.FirstOrDefault();

    /// <summary>Every schedule, by name.</summary>
    public async Task<IReadOnlyList<ScheduleView>> ListAsync() =>
        (await ReadAsync("all", "").ConfigureAwait(false)).Schedules.OrderBy(s => s.Name, StringComparer.Ordinal).ToArray();

    /// <summary>Removes schedule <paramref name="name"/> (its jobs stay); false if there was none.</summary>
    public async Task<bool> DeleteAsync(string name) =>
        (long)await scripts.ScheduleDelete.EvaluateAsync(Db, _deleteKeys.Keys(), [name], commit).ConfigureAwait(false) == 1;

    /// <summary>
    /// The id of the job that occurrence <paramref name="occurrence"/> of schedule <paramref name="name"/> (with its
    /// <see cref="ScheduleView.IdSalt"/>) makes: the same for every runner, not guessable from the name alone.
    /// </summary>
    public static string JobIdOf(string name, string salt, DateTimeOffset occurrence) =>
        Base64Url.EncodeToString(SHA256.HashData(Encoding.UTF8.GetBytes($"schedule\n{salt}\n{name}\n{occurrence.ToUnixTimeMilliseconds()}")).AsSpan(0, 16));

    /// <summary>
    /// Fires every occurrence that has come (on Redis's clock), for every due schedule, as <paramref name="runner"/>;
    /// missed occurrences are handled as <see cref="ScheduleOptions.CatchUp"/> says. Returns how long until the next
    /// known occurrence (null: none).
    /// </summary>
    public async Task<TimeSpan?> RunDueAsync(string runner)
    {
        var read = await ReadAsync("due", DueBatch.ToString()).ConfigureAwait(false);
        var clock = Stopwatch.StartNew();
        DateTimeOffset RedisNow() => read.Now + clock.Elapsed;
        var earliest = read.Next;
        foreach (var schedule in read.Schedules)
        {
            if (!CronSchedule.TryParse(schedule.Definition.Cron, schedule.Definition.TimeZone, out var cron, out _, out _))
            {
                // Stored only once validated: a time zone this machine does not know (another time zone database).
                if (_unknownZones.TryAdd(schedule.Name, true))
                {
                    LogUnknownZone(schedule.Name, schedule.Definition.TimeZone);
                }
                continue;
            }
            var cursor = schedule.NextOccurrence;
            for (var step = 0; step < MostStepsPerSchedule && cursor is { } at; step++)
            {
                var (fire, skipped, next) = Step(cron!, at, RedisNow(), options.Value);
                if (fire is null && skipped == 0)
                {
                    break; // nothing has come yet
                }
                var outcome = QueueOutcomes.Parse((RedisValue)await scripts.ScheduleFire.EvaluateAsync(Db, _fireKeys.Keys(),
                    [schedule.Name, at.ToUnixTimeMilliseconds(), schedule.Revision, fire?.ToUnixTimeMilliseconds() ?? -1, skipped,
                        next?.ToUnixTimeMilliseconds() ?? -1, fire is { } f ? JobIdOf(schedule.Name, schedule.IdSalt, f) : "", runner,
                        (long)queueOptions.Value.PriorityAging.TotalMilliseconds, queueOptions.Value.MaxQueueLength, queueOptions.Value.MaxQueueBytes], commit)
                    .ConfigureAwait(false));
                if (outcome == QueueOutcome.Created)
                {
                    telemetry.Accepted(schedule.Definition.Type);
                }
                if (outcome is QueueOutcome.Stale or QueueOutcome.NotDue)
                {
                    break;
                }
                cursor = next;
            }
            if (cursor is { } later && (earliest is null || later < earliest))
            {
                earliest = later;
            }
        }
        if (read.Schedules.Count == DueBatch)
        {
            return TimeSpan.Zero; // more may be due than one read returns: look again at once
        }
        return earliest is { } soonest ? soonest - RedisNow() : null;
    }

    /// <summary>
    /// One step of a schedule at <paramref name="cursor"/> (its first unfired occurrence) at time <paramref name="now"/>:
    /// the occurrence to fire (if any), how many are skipped as missed, and the new cursor. An occurrence is on time
    /// until <see cref="ScheduleOptions.MissedAfter"/> has passed, and then missed: skipped (and counted), except that
    /// with <see cref="CatchUp.Last"/> the most recent missed one is fired when no occurrence is on time.
    /// </summary>
    public static (DateTimeOffset? Fire, long Skipped, DateTimeOffset? Next) Step(CronSchedule cron, DateTimeOffset cursor, DateTimeOffset now,
        ScheduleOptions options)
    {
        if (cron.Next(cursor, inclusive: true) is not { } first || first > now)
        {
            return (null, 0, null);
        }
        var missedBefore = now - options.MissedAfter;
        if (first >= missedBefore)
        {
            return (first, 0, cron.Next(first)); // on time, or late within the allowance
        }
        var firstOnTime = cron.Next(missedBefore, inclusive: true);
        if (options.CatchUp == CatchUp.Last && (firstOnTime is null || firstOnTime > now))
        {
            var last = LastBefore(cron, first, missedBefore);
            return (last, Count(cron, first, last), cron.Next(last));
        }
        return (null, Count(cron, first, missedBefore), firstOnTime);
    }

    /// <summary>Occurrences in [<paramref name="from"/>, <paramref name="to"/>), counted up to a bound.</summary>
    private static long Count(CronSchedule cron, DateTimeOffset from, DateTimeOffset to)
    {
        long count = 0;
        for (var at = cron.Next(from, inclusive: true); at is { } t && t < to && count < MostCounted; at = cron.Next(t))
        {
            count++;
        }
        return count;
    }

    /// <summary>The last occurrence before <paramref name="before"/>, given that <paramref name="first"/> is one.</summary>
    private static DateTimeOffset LastBefore(CronSchedule cron, DateTimeOffset first, DateTimeOffset before)
    {
        // Look back in widening windows, so that a schedule of every second missed for a year costs little.
        for (var window = TimeSpan.FromMinutes(1); ; window *= 8)
        {
            var from = before - window > first ? before - window : first;
            var found = cron.Between(from, before.AddTicks(-1), int.MaxValue);
            if (found.Count > 0)
            {
                return found[^1];
            }
            if (from == first)
            {
                return first;
            }
        }
    }

    private async Task<(DateTimeOffset Now, IReadOnlyList<ScheduleView> Schedules, DateTimeOffset? Next)> ReadAsync(string what, string argument)
    {
        var reply = (RedisResult[])(await scripts.Schedules.EvaluateAsync(Db, _readKeys.Keys(), [what, argument], commit)
            .ConfigureAwait(false))!;
        var now = DateTimeOffset.FromUnixTimeMilliseconds((long)reply[0]);
        var schedules = new List<ScheduleView>();
        DateTimeOffset? next = null;
        for (var i = 1; i + 2 < reply.Length; i += 3)
        {
            var name = (string)reply[i]!;
            var cursor = (long)double.Parse((string)reply[i + 2]!, System.Globalization.CultureInfo.InvariantCulture);
            if (name.Length == 0)
            {
                next = cursor < 0 ? null : DateTimeOffset.FromUnixTimeMilliseconds(cursor);
                continue;
            }
            var stored = JsonSerializer.Deserialize((string)reply[i + 1]!, QueueJson.Default.StoredSchedule)!;
            schedules.Add(new ScheduleView(name,
                new ScheduleDefinition(stored.Cron ?? "", stored.TimeZone ?? "UTC", stored.Type ?? "", stored.Data ?? "null",
                    stored.Priority ?? JobOptions.DefaultPriority),
                stored.Revision ?? 0,
                DateTimeOffset.FromUnixTimeMilliseconds(stored.CreatedAt ?? 0),
                DateTimeOffset.FromUnixTimeMilliseconds(stored.UpdatedAt ?? 0),
                cursor < 0 ? null : DateTimeOffset.FromUnixTimeMilliseconds(cursor),
                stored.LastOccurrence is { } last ? DateTimeOffset.FromUnixTimeMilliseconds(last) : null,
                stored.LastJob, stored.Fired ?? 0, stored.Missed ?? 0, stored.Refused ?? 0, stored.Salt ?? ""));
        }
        return (now, schedules, next);
    }

    [LoggerMessage(LogLevel.Warning, "Schedule {Name} is not fired by this process: its time zone '{TimeZone}' is not known here (every process needs the same time zone database)")]
    private partial void LogUnknownZone(string name, string timeZone);
}

/// <summary>A schedule's JSON in the schedules hash (every member optional: the source-generated reader sets them all).</summary>
internal sealed record StoredSchedule
{
    [JsonPropertyName("cron")] public string? Cron { get; init; }
    [JsonPropertyName("time_zone")] public string? TimeZone { get; init; }
    [JsonPropertyName("type")] public string? Type { get; init; }
    [JsonPropertyName("data")] public string? Data { get; init; }
    [JsonPropertyName("priority")] public int? Priority { get; init; }
    [JsonPropertyName("revision")] public long? Revision { get; init; }
    [JsonPropertyName("created_at")] public long? CreatedAt { get; init; }
    [JsonPropertyName("updated_at")] public long? UpdatedAt { get; init; }
    [JsonPropertyName("fired")] public long? Fired { get; init; }
    [JsonPropertyName("missed")] public long? Missed { get; init; }
    [JsonPropertyName("refused")] public long? Refused { get; init; }
    [JsonPropertyName("last_job")] public string? LastJob { get; init; }
    [JsonPropertyName("last_occurrence")] public long? LastOccurrence { get; init; }
    [JsonPropertyName("salt")] public string? Salt { get; init; }
}
