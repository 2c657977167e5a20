using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using WorkCluster.Handlers;
using WorkCluster.Queue;
using WorkCluster.Queue.Schedules;

using WorkCluster.Api.Security;

namespace WorkCluster.Api.Apis;

/// <summary>Recurring schedules: <c>/api/v1/schedules</c>.</summary>
public static partial class ScheduleApi
{
    public const string BasePath = "/api/v1/schedules";
    public const int UpcomingCount = 5;

    public static RouteGroupBuilder MapScheduleApiV1(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup(BasePath).WithTags("Schedules").RequireScope(ApiScopes.Admin);

        api.MapPut("/{name}", PutSchedule)
            .WithName("PutSchedule")
            .WithSummary("Create or replace a recurring schedule: a job of 'type' with 'data' at every occurrence of 'cron' in 'time_zone'.")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);

        api.MapGet("/", ListSchedules)
            .WithName("ListSchedules")
            .WithSummary("Every recurring schedule, with its next occurrences and the last job it made.")
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);

        api.MapGet("/{name}", GetSchedule)
            .WithName("GetSchedule")
            .WithSummary("A recurring schedule, with its next occurrences and the last job it made.")
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);

        api.MapDelete("/{name}", DeleteSchedule)
            .WithName("DeleteSchedule")
            .WithSummary("Remove a recurring schedule (the jobs it made are left as they are).")
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);

        return api;
    }

    /// <summary>The dependencies of the schedule endpoints.</summary>
    public sealed class ScheduleServices(RecurringSchedules schedules, WorkTypes types, IOptions<WorkApiOptions> options,
        IOptions<QueueOptions> queueOptions, IOptions<ScheduleOptions> scheduleOptions)
    {
        public RecurringSchedules Schedules { get; } = schedules;
        public WorkTypes Types { get; } = types;
        public IOptions<WorkApiOptions> Options { get; } = options;
        public IOptions<QueueOptions> QueueOptions { get; } = queueOptions;
        public IOptions<ScheduleOptions> ScheduleOptions { get; } = scheduleOptions;
    }

    public static async Task<Results<Created<ScheduleStatus>, Ok<ScheduleStatus>, ProblemHttpResult>> PutSchedule(string name,
        HttpContext context, [AsParameters] ScheduleServices services)
    {
        if (!NamePattern().IsMatch(name))
        {
            return Problems.Create(StatusCodes.Status400BadRequest, "Invalid schedule name",
                "A schedule name has 1 to 100 characters: letters, digits, '.', '_' or '-', starting with a letter or digit.");
        }
        var (work, problem) = await WorkRequestReader.ReadAsync(context, services.Types, services.Options.Value.MaxPayloadBytes,
            queue: services.QueueOptions.Value);
        if (work is null)
        {
            return problem!;
        }
        if (work.Options.Delay is not null || work.Options.RunAt is not null)
        {
            return Problems.Create(StatusCodes.Status400BadRequest, "'delay_ms' and 'run_at' are not for schedules",
                "A schedule's jobs run at its occurrences: say when with 'cron' (and 'time_zone').");
        }

        string cron, zone;
        using (var body = JsonDocument.Parse(work.Body))
        {
            if (!body.RootElement.TryGetProperty("cron", out var cronElement) || cronElement.ValueKind != JsonValueKind.String
                || cronElement.GetString() is not { Length: > 0 } cronText)
            {
                return Problems.Create(StatusCodes.Status400BadRequest, "Missing 'cron'",
                    "'cron' must be a cron expression: five fields (minute hour day month weekday), or six with seconds first, " +
                    "e.g. \"*/5 * * * * *\" for every 5 seconds.");
            }
            cron = cronText;
            zone = "UTC";
            if (body.RootElement.TryGetProperty("time_zone", out var zoneElement) && zoneElement.ValueKind != JsonValueKind.Null)
            {
                if (zoneElement.ValueKind != JsonValueKind.String || zoneElement.GetString() is not { Length: > 0 } zoneText)
                {
                    return Problems.Create(StatusCodes.Status400BadRequest, "'time_zone' must be a time zone name",
                        "Use an IANA name such as Europe/Paris, or leave it out for UTC.");
                }
                zone = zoneText;
            }
        }
        if (!CronSchedule.TryParse(cron, zone, out var parsed, out var cronError, out var zoneError))
        {
            return cronError is not null
                ? Problems.Create(StatusCodes.Status400BadRequest, "Invalid cron expression", $"'{cron}': {cronError}")
                : Problems.Create(StatusCodes.Status400BadRequest, "Unknown time zone", zoneError!);
        }

        var definition = new ScheduleDefinition(cron, zone, work.Type, work.Data, work.Options.Priority);
        var (outcome, schedule) = await services.Schedules.PutAsync(name, definition, parsed!);
        switch (outcome)
        {
            case QueueOutcome.NeverOccurs:
                return Problems.Create(StatusCodes.Status400BadRequest, "The schedule never occurs",
                    $"'{cron}' has no occurrence from now on in {zone}.");
            case QueueOutcome.TooMany:
                return Problems.Create(StatusCodes.Status409Conflict, "Too many schedules",
                    $"The cluster holds its limit of {services.ScheduleOptions.Value.MaxSchedules} schedules (Schedules:MaxSchedules); " +
                    "delete one first.");
            case QueueOutcome.Created or QueueOutcome.Replaced when schedule is null:
                return Problems.Create(StatusCodes.Status409Conflict, "The schedule was deleted meanwhile",
                    $"Schedule '{name}' was stored and deleted by another request at once; PUT it again to have it.");
            case QueueOutcome.Created:
                return TypedResults.Created($"{BasePath}/{name}", ScheduleStatus.From(schedule!, parsed!));
            default:
                return TypedResults.Ok(ScheduleStatus.From(schedule!, parsed!));
        }
    }

    public static async Task<Ok<ScheduleList>> ListSchedules([AsParameters] ScheduleServices services)
    {
        var schedules = await services.Schedules.ListAsync();
        return TypedResults.Ok(new ScheduleList(schedules.Count, schedules.Select(ScheduleStatus.From).ToArray()));
    }

    public static async Task<Results<Ok<ScheduleStatus>, ProblemHttpResult>> GetSchedule(string name, [AsParameters] ScheduleServices services)
    {
        var schedule = NamePattern().IsMatch(name) ? await services.Schedules.GetAsync(name) : null;
        return schedule is null ? NoSuchSchedule(name) : TypedResults.Ok(ScheduleStatus.From(schedule));
    }

    public static async Task<Results<NoContent, ProblemHttpResult>> DeleteSchedule(string name, [AsParameters] ScheduleServices services) =>
        NamePattern().IsMatch(name) && await services.Schedules.DeleteAsync(name) ? TypedResults.NoContent() : NoSuchSchedule(name);

    private static ProblemHttpResult NoSuchSchedule(string name) =>
        Problems.Create(StatusCodes.Status404NotFound, "No such schedule", $"There is no schedule '{name}'; GET {BasePath} lists them.");

    [GeneratedRegex(@"\A[A-Za-z0-9][A-Za-z0-9._-]{0,99}\z")]
    private static partial Regex NamePattern();
}

/// <summary>A recurring schedule as the API shows it.</summary>
public sealed record ScheduleStatus
{
    [JsonPropertyName("name")] public required string Name { get; init; }
    [JsonPropertyName("cron")] public required string Cron { get; init; }
    [JsonPropertyName("time_zone")] public required string TimeZone { get; init; }
    [JsonPropertyName("type")] public required string Type { get; init; }
    [JsonPropertyName("data")] public JsonElement Data { get; init; }
    [JsonPropertyName("priority")] public int Priority { get; init; }
    [JsonPropertyName("next_occurrences")] public IReadOnlyList<DateTimeOffset> NextOccurrences { get; init; } = [];
    [JsonPropertyName("last_occurrence")] public DateTimeOffset? LastOccurrence { get; init; }
    [JsonPropertyName("last_job_id")] public string? LastJobId { get; init; }
    [JsonPropertyName("fired")] public long Fired { get; init; }
    [JsonPropertyName("missed")] public long Missed { get; init; }
    [JsonPropertyName("refused")] public long Refused { get; init; }
    [JsonPropertyName("revision")] public long Revision { get; init; }
    [JsonPropertyName("created_at")] public DateTimeOffset CreatedAt { get; init; }
    [JsonPropertyName("updated_at")] public DateTimeOffset UpdatedAt { get; init; }

    public static ScheduleStatus From(ScheduleView schedule) =>
        CronSchedule.TryParse(schedule.Definition.Cron, schedule.Definition.TimeZone, out var cron, out _, out _)
            ? From(schedule, cron!)
            : From(schedule, null);

    public static ScheduleStatus From(ScheduleView schedule, CronSchedule? cron) => new()
    {
        Name = schedule.Name,
        Cron = schedule.Definition.Cron,
        TimeZone = schedule.Definition.TimeZone,
        Type = schedule.Definition.Type,
        Data = JsonElement.Parse(schedule.Definition.Data),
        Priority = schedule.Definition.Priority,
        // From the cursor: an occurrence not yet fired comes first, even if its time has just passed.
        NextOccurrences = cron is not null && schedule.NextOccurrence is { } cursor ? cron.Upcoming(cursor, ScheduleApi.UpcomingCount) : [],
        LastOccurrence = schedule.LastOccurrence,
        LastJobId = schedule.LastJob,
        Fired = schedule.Fired,
        Missed = schedule.Missed,
        Refused = schedule.Refused,
        Revision = schedule.Revision,
        CreatedAt = schedule.CreatedAt,
        UpdatedAt = schedule.UpdatedAt,
    };
}

/// <summary>Every recurring schedule.</summary>
public sealed record ScheduleList(
    [property: JsonPropertyName("count")] int Count,
    [property: JsonPropertyName("items")] IReadOnlyList<ScheduleStatus> Items);
