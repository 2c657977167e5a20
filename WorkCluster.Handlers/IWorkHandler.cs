using System.Text.Json;

namespace WorkCluster.Handlers;

/// <summary>What a handler gets: the job and its data.</summary>
/// <param name="JobId">The job's id.</param>
/// <param name="Type">The work type.</param>
/// <param name="Data">The submitted data.</param>
/// <param name="RawData">The submitted data as the exact JSON text the client sent.</param>
/// <param name="Attempt">1 for the first run, 2 for the first retry, ...</param>
public sealed record WorkItem(string JobId, string Type, JsonElement Data, string RawData, int Attempt)
{
    /// <summary>Where the handler's progress reports go (nowhere unless the worker says).</summary>
    public IProgressReporter Progress { get; init; } = IProgressReporter.None;

    /// <summary>
    /// Reports how far the work has come: stored with the job (GET shows it) and published as a <c>progress</c> event.
    /// Cheap to call often: the worker writes the latest report at most every <c>Worker:ProgressInterval</c>, and never
    /// waits for Redis here (a report that cannot be written is dropped).
    /// </summary>
    /// <param name="percent">0 to 100 (clamped), or null if unknown.</param>
    /// <param name="message">A short text (cut to <see cref="IProgressReporter.MaxMessageLength"/> characters).</param>
    public ValueTask ReportProgressAsync(double? percent, string? message = null) => Progress.ReportAsync(percent, message);
}

/// <summary>
/// A handler that checks its data before the work is accepted: the API asks it at submission, so that data the handler
/// could never do (or would do harm with) is a 400 at once rather than a failed job later.
/// </summary>
public interface IValidatesWorkData
{
    /// <summary>Why <paramref name="data"/> cannot be work of <paramref name="type"/> (this handler's), or null if it can.</summary>
    string? Validate(string type, JsonElement data);
}

/// <summary>Takes a running job's progress reports.</summary>
public interface IProgressReporter
{
    /// <summary>The longest progress message kept.</summary>
    const int MaxMessageLength = 200;

    /// <summary>Takes the reports nowhere.</summary>
    static readonly IProgressReporter None = new NoProgressReporter();

    ValueTask ReportAsync(double? percent, string? message);

    private sealed class NoProgressReporter : IProgressReporter
    {
        public ValueTask ReportAsync(double? percent, string? message) => ValueTask.CompletedTask;
    }
}

/// <summary>Does one type of work. Implementations are registered with <see cref="WorkHandlerRegistration.AddWorkHandler{THandler}"/>.</summary>
public interface IWorkHandler
{
    /// <summary>Does the work and returns the result, which is stored as JSON.</summary>
    Task<object?> HandleAsync(WorkItem item, CancellationToken cancellationToken);
}
