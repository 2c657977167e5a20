using WorkCluster.Queue.Schedules;

namespace WorkCluster.Tests.Unit;

/// <summary>Cron expressions in a time zone: parsing, errors that say what is wrong, occurrences across DST.</summary>
public sealed class CronScheduleTests
{
    private static CronSchedule Parse(string cron, string zone = "UTC")
    {
        Assert.True(CronSchedule.TryParse(cron, zone, out var schedule, out var cronError, out var zoneError), cronError ?? zoneError);
        return schedule!;
    }

    [Fact]
    [Trait("Category", "Unit")]
    public void Five_fields_are_minutes_six_fields_start_with_seconds_and_macros_work()
    {
        var at = new DateTimeOffset(2026, 12, 8, 10, 0, 30, TimeSpan.Zero);
        Assert.Equal(new DateTimeOffset(2026, 12, 8, 10, 5, 0, TimeSpan.Zero), Parse("*/5 * * * *").Next(at));
        Assert.Equal(at.AddSeconds(10), Parse("*/20 * * * * *").Next(at));
        Assert.Equal(new DateTimeOffset(2026, 12, 8, 11, 0, 0, TimeSpan.Zero), Parse("@hourly").Next(at));
    }

    [Theory]
    [Trait("Category", "Unit")]
    [InlineData("61 * * * *", "UTC", true, false)]
    [InlineData("* * *", "UTC", true, false)]
    [InlineData("* * * * *", "Mars/Olympus", false, true)]
    [InlineData("nope", "Nowhere/At_All", true, true)]
    public void A_bad_expression_or_zone_is_refused_and_each_says_what_is_wrong(string cron, string zone, bool cronBad, bool zoneBad)
    {
        Assert.False(CronSchedule.TryParse(cron, zone, out var schedule, out var cronError, out var zoneError));
        Assert.Null(schedule);
        Assert.Equal(cronBad, cronError is not null);
        Assert.Equal(zoneBad, zoneError is not null);
        if (zoneBad)
        {
            Assert.Contains(zone, zoneError);
        }
    }

    [Fact]
    [Trait("Category", "Unit")]
    public void Local_times_follow_the_zone_through_daylight_saving_time()
    {
        // 02:30 every day in Paris: on 2026-03-29 the clocks jump from 02:00 to 03:00, so that day it runs at the jump.
        var paris = Parse("30 2 * * *", "Europe/Paris");
        var occurrences = paris.Between(new DateTimeOffset(2026, 3, 28, 0, 0, 0, TimeSpan.Zero), new DateTimeOffset(2026, 3, 30, 23, 0, 0, TimeSpan.Zero), 10);
        Assert.Equal([
            new DateTimeOffset(2026, 3, 28, 1, 30, 0, TimeSpan.Zero), // 02:30 CET
            new DateTimeOffset(2026, 3, 29, 1, 0, 0, TimeSpan.Zero), // the jump: 03:00 CEST
            new DateTimeOffset(2026, 3, 30, 0, 30, 0, TimeSpan.Zero), // 02:30 CEST
        ], occurrences);
    }

    [Fact]
    [Trait("Category", "Unit")]
    public void Upcoming_and_between_are_bounded_and_inclusive_of_their_start()
    {
        var minutely = Parse("* * * * *");
        var start = new DateTimeOffset(2026, 12, 8, 10, 0, 0, TimeSpan.Zero);
        Assert.Equal([start, start.AddMinutes(1), start.AddMinutes(2)], minutely.Upcoming(start, 3));
        Assert.Equal(5, minutely.Between(start, start.AddHours(1), 5).Count);
        Assert.Empty(minutely.Between(start, start.AddMinutes(-1), 5));
        Assert.Null(Parse("0 0 30 2 *").Next(start)); // 30 February never comes
    }
}
