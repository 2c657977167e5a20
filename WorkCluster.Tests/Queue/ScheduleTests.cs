using System.Text.Json;
using StackExchange.Redis;
using WorkCluster.Queue;
using WorkCluster.Queue.Schedules;

namespace WorkCluster.Tests.Queue;

/// <summary>Recurring schedules: one job per occurrence whoever runs them, and what happens to missed occurrences.</summary>
[Collection(RedisCollection.Name)]
public sealed class ScheduleTests(RedisServerFixture redis)
{
    private static readonly DateTimeOffset Noon = new(2026, 6, 1, 12, 0, 0, TimeSpan.Zero);

    private IDatabase Db => redis.Connection.GetDatabase();

    [Fact]
    public async Task Four_runners_racing_on_an_every_second_schedule_make_one_job_per_occurrence_and_miss_none()
    {
        var queue = redis.NewSpace().Queue;
        var runners = Enumerable.Range(0, 4).Select(_ => redis.NewSchedules(queue)).ToArray();
        var (outcome, _) = await runners[0].PutAsync("tick", new("* * * * * *", "UTC", "echo", "\"tick\""), Cron("* * * * * *"));
        Assert.Equal(QueueOutcome.Created, outcome);

        // Each runner loops as the schedule duty (ScheduleFirer) does, without the sleep and without taking turns: as hard a race as there can be.
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(4.5));
        await Task.WhenAll(runners.Select((runner, i) => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                await runner.RunDueAsync($"runner-{i}");
            }
        })));

        var jobs = await JobsOfAsync(queue, "tick");
        var occurrences = jobs.Select(j => j.Occurrence!.Value).Order().ToArray();
        Assert.InRange(occurrences.Length, 4, 5);
        Assert.Equal(occurrences.Distinct(), occurrences);
        Assert.All(occurrences.Zip(occurrences.Skip(1)), pair => Assert.Equal(1000, pair.Second - pair.First));
        var schedule = (await runners[0].GetAsync("tick"))!;
        Assert.All(jobs, j => Assert.Equal(
            RecurringSchedules.JobIdOf("tick", schedule.IdSalt, DateTimeOffset.FromUnixTimeMilliseconds(j.Occurrence!.Value)), j.Id));
        Assert.Equal(16, schedule.IdSalt.Length);
        Assert.Equal(occurrences.Length, schedule.Fired);
        Assert.Equal(0, schedule.Missed);
        Assert.Equal(occurrences[^1], schedule.LastOccurrence!.Value.ToUnixTimeMilliseconds());
        Assert.Equal(jobs.Single(j => j.Occurrence == occurrences[^1]).Id, schedule.LastJob);
        Assert.True(schedule.NextOccurrence > schedule.LastOccurrence);
    }

    [Fact]
    public async Task After_the_cluster_was_down_catch_up_last_makes_one_job_for_the_latest_missed_occurrence()
    {
        var queue = redis.NewSpace().Queue;
        var schedules = redis.NewSchedules(queue, new ScheduleOptions { CatchUp = CatchUp.Last, MissedAfter = TimeSpan.FromSeconds(1) });
        var cron = Cron("* * * * *");
        await schedules.PutAsync("minutely", new("* * * * *", "UTC", "echo", "1"), cron);
        // Nobody ran the schedules for ten minutes.
        var tenMinutesAgo = cron.Next(DateTimeOffset.UtcNow.AddMinutes(-10))!.Value;
        await Db.SortedSetAddAsync(queue.Keys.ScheduleCursors, "minutely", tenMinutesAgo.ToUnixTimeMilliseconds());

        await schedules.RunDueAsync("runner");
        await schedules.RunDueAsync("runner");

        var job = Assert.Single(await JobsOfAsync(queue, "minutely"));
        var latest = DateTimeOffset.FromUnixTimeMilliseconds(job.Occurrence!.Value);
        Assert.True(latest <= DateTimeOffset.UtcNow && latest > DateTimeOffset.UtcNow.AddMinutes(-1), $"fired {latest}, not the latest minute");
        var schedule = (await schedules.GetAsync("minutely"))!;
        Assert.Equal((1, 9), (schedule.Fired, schedule.Missed));
        Assert.Equal(latest.AddMinutes(1), schedule.NextOccurrence);
    }

    [Fact]
    public void Missed_occurrences_are_skipped_with_catch_up_none_and_the_latest_runs_with_last_unless_one_is_on_time()
    {
        var cron = Cron("*/10 * * * * *");
        var none = new ScheduleOptions { CatchUp = CatchUp.None, MissedAfter = TimeSpan.FromSeconds(5) };
        var last = new ScheduleOptions { CatchUp = CatchUp.Last, MissedAfter = TimeSpan.FromSeconds(5) };

        // On time (and late within the allowance): fired, one at a time.
        Assert.Equal((Noon, 0L, Noon.AddSeconds(10)), RecurringSchedules.Step(cron, Noon, Noon.AddSeconds(4), none));
        Assert.Equal((null, 0L, null), RecurringSchedules.Step(cron, Noon, Noon.AddSeconds(-1), none));

        // Down from 12:00:00 to 12:01:07: 12:00:00 to 12:01:00 (7 occurrences) missed; nothing is on time.
        var back = Noon.AddSeconds(67);
        Assert.Equal((null, 7L, Noon.AddSeconds(70)), RecurringSchedules.Step(cron, Noon, back, none));
        Assert.Equal((Noon.AddSeconds(60), 6L, Noon.AddSeconds(70)), RecurringSchedules.Step(cron, Noon, back, last));

        // Back at 12:01:03: 12:01:00 is on time, so it stands for the missed ones under either policy.
        var onTime = Noon.AddSeconds(63);
        Assert.Equal((null, 6L, Noon.AddSeconds(60)), RecurringSchedules.Step(cron, Noon, onTime, none));
        Assert.Equal((null, 6L, Noon.AddSeconds(60)), RecurringSchedules.Step(cron, Noon, onTime, last));
        Assert.Equal((Noon.AddSeconds(60), 0L, Noon.AddSeconds(70)), RecurringSchedules.Step(cron, Noon.AddSeconds(60), onTime, last));

        // Down for a year on a schedule of every minute: the latest missed one found, the others counted.
        var everyMinute = Cron("0 * * * * *");
        var yearLater = Noon.AddYears(1);
        Assert.Equal((yearLater, 525_600L, yearLater.AddMinutes(1)), RecurringSchedules.Step(everyMinute, Noon, yearLater.AddSeconds(30), last));
        Assert.Equal((null, 525_601L, yearLater.AddMinutes(1)), RecurringSchedules.Step(everyMinute, Noon, yearLater.AddSeconds(30), none));
    }

    [Fact]
    public void Occurrences_follow_the_schedules_time_zone_across_daylight_saving_time()
    {
        // 02:30 every day in Paris: on 2026-03-29 the clocks jump from 02:00 to 03:00, and Cronos runs it at the jump.
        var paris = Cron("30 2 * * *", "Europe/Paris");
        var upcoming = paris.Upcoming(new DateTimeOffset(2026, 3, 27, 12, 0, 0, TimeSpan.Zero), 3);
        Assert.Equal(
        [
            new DateTimeOffset(2026, 3, 28, 1, 30, 0, TimeSpan.Zero), // 02:30 CET
            new DateTimeOffset(2026, 3, 29, 1, 0, 0, TimeSpan.Zero), // the jump: 03:00 CEST
            new DateTimeOffset(2026, 3, 30, 0, 30, 0, TimeSpan.Zero), // 02:30 CEST
        ], upcoming);
    }

    [Fact]
    public async Task A_schedule_replaced_keeps_its_history_one_deleted_fires_no_more_and_bad_input_is_refused()
    {
        var queue = redis.NewSpace().Queue;
        var schedules = redis.NewSchedules(queue, new ScheduleOptions { MaxSchedules = 2 });
        Assert.Equal(QueueOutcome.Created, (await schedules.PutAsync("a", new("* * * * * *", "UTC", "echo", "1"), Cron("* * * * * *"))).Outcome);
        var salt = (await schedules.GetAsync("a"))!.IdSalt;
        var replaced = await schedules.PutAsync("a", new("*/2 * * * * *", "UTC", "echo", "2", 7), Cron("*/2 * * * * *"));
        Assert.Equal(QueueOutcome.Replaced, replaced.Outcome);
        Assert.Equal((2L, "*/2 * * * * *", 7), (replaced.Schedule!.Revision, replaced.Schedule.Definition.Cron, replaced.Schedule.Definition.Priority));
        Assert.Equal(salt, replaced.Schedule.IdSalt); // the ids of its jobs stay as they were
        Assert.Equal(QueueOutcome.Created, (await schedules.PutAsync("b", new("* * * * *", "UTC", "echo", "1"), Cron("* * * * *"))).Outcome);
        Assert.Equal(QueueOutcome.TooMany, (await schedules.PutAsync("c", new("* * * * *", "UTC", "echo", "1"), Cron("* * * * *"))).Outcome);
        Assert.Equal(QueueOutcome.NeverOccurs,
            (await schedules.PutAsync("d", new("0 0 30 2 *", "UTC", "echo", "1"), Cron("0 0 30 2 *"))).Outcome);

        Assert.True(await schedules.DeleteAsync("a"));
        Assert.False(await schedules.DeleteAsync("a"));
        // Created again: a revision no runner can have read before, and ids of its own.
        var again = (await schedules.PutAsync("a", new("* * * * * *", "UTC", "echo", "1"), Cron("* * * * * *"))).Schedule!;
        Assert.True(again.Revision > 2);
        Assert.NotEqual(salt, again.IdSalt);
        Assert.True(await schedules.DeleteAsync("a"));
        await Task.Delay(2100);
        await schedules.RunDueAsync("runner");
        Assert.Empty(await JobsOfAsync(queue, "a"));
        Assert.Equal(["b"], (await schedules.ListAsync()).Select(s => s.Name));

        Assert.False(CronSchedule.TryParse("61 * * * *", "UTC", out _, out var cronError, out _));
        Assert.NotNull(cronError);
        Assert.False(CronSchedule.TryParse("* * * * *", "Mars/Olympus_Mons", out _, out _, out var zoneError));
        Assert.NotNull(zoneError);
    }

    private static CronSchedule Cron(string expression, string zone = "UTC")
    {
        Assert.True(CronSchedule.TryParse(expression, zone, out var cron, out var error, out var zoneError), error ?? zoneError);
        return cron!;
    }

    private async Task<IReadOnlyList<(string Id, long? Occurrence)>> JobsOfAsync(WorkQueue queue, string schedule) =>
        (await Db.HashGetAllAsync(queue.Keys.Jobs))
            .Select(e => (Id: (string)e.Name!, Record: JsonSerializer.Deserialize<JsonElement>((string)e.Value!)))
            .Where(e => e.Record.TryGetProperty("schedule", out var s) && s.GetString() == schedule)
            .Select(e => (e.Id, (long?)e.Record.GetProperty("occurrence").GetInt64()))
            .ToArray();
}
