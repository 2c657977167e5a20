namespace WorkCluster.Queue;

/// <summary>
/// A submission reached Redis, or may have, but its answer never came, not even when it was sent again under the same id:
/// job <see cref="JobId"/> may exist. Whoever submitted it learns so, and the id, rather than a plain failure that would
/// invite a second submission of the same work.
/// </summary>
public sealed class SubmissionOutcomeUnknownException(string jobId, Exception inner)
    : Exception($"Redis did not answer whether job {jobId} was queued: {inner.Message}", inner)
{
    public string JobId { get; } = jobId;
}
