using Cronos;

namespace WorkCluster.Queue.Schedules;

/// <summary>
/// A cron expression (five fields, or six with seconds first; macros such as <c>@hourly</c>) in a time zone (IANA or
/// Windows id), parsed by Cronos: its occurrences as UTC times, daylight saving time handled as Cronos does (a time
/// skipped by a spring-forward runs at the jump; a time repeated in the fall runs once).
/// </summary>
public sealed class CronSchedule
{
    private readonly CronExpression _expression;

    private CronSchedule(CronExpression expression, TimeZoneInfo zone)
    {
        _expression = expression;
        Zone = zone;
    }

    public TimeZoneInfo Zone { get; }

    /// <summary>Parses <paramref name="cron"/> in <paramref name="timeZone"/>, or says what is wrong with either.</summary>
    public static bool TryParse(string cron, string timeZone, out CronSchedule? schedule, out string? cronError, out string? zoneError)
    {
        schedule = null;
        cronError = zoneError = null;
        CronExpression? expression = null;
        try
        {
            var fields = cron.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length;
            expression = CronExpression.Parse(cron.Trim(), fields == 6 ? CronFormat.IncludeSeconds : CronFormat.Standard);
        }
        catch (CronFormatException e)
        {
            cronError = e.Message;
        }
        if (!TimeZoneInfo.TryFindSystemTimeZoneById(timeZone, out var zone))
        {
            zoneError = $"'{timeZone}' is not a time zone known here (use an IANA name such as Europe/Paris, or UTC).";
        }
        if (expression is null || zone is null)
        {
            return false;
        }
        schedule = new CronSchedule(expression, zone);
        return true;
    }

    /// <summary>The first occurrence after <paramref name="after"/> (or at it, if <paramref name="inclusive"/>), or null if none.</summary>
    public DateTimeOffset? Next(DateTimeOffset after, bool inclusive = false) =>
        _expression.GetNextOccurrence(after.UtcDateTime, Zone, inclusive) is { } next ? new DateTimeOffset(next, TimeSpan.Zero) : null;

    /// <summary>The occurrences from <paramref name="from"/> (inclusive) to <paramref name="to"/> (inclusive), at most <paramref name="most"/>.</summary>
    public IReadOnlyList<DateTimeOffset> Between(DateTimeOffset from, DateTimeOffset to, int most) =>
        from > to ? [] : _expression.GetOccurrences(from.UtcDateTime, to.UtcDateTime, Zone, fromInclusive: true, toInclusive: true)
            .Take(most).Select(o => new DateTimeOffset(o, TimeSpan.Zero)).ToArray();

    /// <summary>The next <paramref name="count"/> occurrences from <paramref name="from"/> (inclusive).</summary>
    public IReadOnlyList<DateTimeOffset> Upcoming(DateTimeOffset from, int count)
    {
        var list = new List<DateTimeOffset>(count);
        var next = Next(from, inclusive: true);
        while (next is { } at && list.Count < count)
        {
            list.Add(at);
            next = Next(at);
        }
        return list;
    }
}
