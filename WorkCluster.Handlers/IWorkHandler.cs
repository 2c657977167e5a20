using System.Text.Json;

namespace WorkCluster.Handlers;

/// <summary>What a handler gets: the job and its data.</summary>
/// <param name="JobId">The job's id.</param>
/// <param name="Type">The work type.</param>
/// <param name="Data">The submitted data.</param>
/// <param name="RawData">The submitted data as the exact JSON text the client sent.</param>
/// <param name="Attempt">1 for the first run, 2 for the first retry, ...</param>
public sealed record WorkItem(string JobId, string Type, JsonElement Data, string RawData, int Attempt);

/// <summary>Does one type of work. Implementations are registered with <see cref="WorkHandlerRegistration.AddWorkHandler{THandler}"/>.</summary>
public interface IWorkHandler
{
    /// <summary>Does the work and returns the result, which is stored as JSON.</summary>
    Task<object?> HandleAsync(WorkItem item, CancellationToken cancellationToken);
}
