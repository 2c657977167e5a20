using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Mvc;
using WorkCluster.Queue;
using WorkCluster.Redis;

namespace WorkCluster.Api;

/// <summary>
/// Turns the exceptions that are not bugs into the problem a client can act on: Redis unreachable (or not serving now, e.g.
/// loading its data after a restart, or at its memory limit) → 503 with Retry-After; a submission Redis took but never
/// confirmed → 503 naming the job it may have queued; a request the server could not read → its 4xx. Anything else stays a 500.
/// </summary>
public sealed class ProblemExceptionHandler(IProblemDetailsService problems, ILogger<ProblemExceptionHandler> logger) : IExceptionHandler
{
    /// <summary>Seconds a client should wait before retrying while Redis is unreachable.</summary>
    public const int RetryAfterSeconds = 5;

    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken cancellationToken)
    {
        ProblemDetails problem;
        switch (exception)
        {
            case SubmissionOutcomeUnknownException unknown:
                logger.LogWarning("Redis did not answer whether job {JobId} was queued; answering 503: {Message}", unknown.JobId, exception.Message);
                context.Response.Headers.RetryAfter = RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
                problem = new ProblemDetails
                {
                    Status = StatusCodes.Status503ServiceUnavailable,
                    Title = "The work queue did not confirm the submission",
                    Detail = $"The queue's store (Redis) took the submission but did not answer in time: it may have been queued as job " +
                        $"'{unknown.JobId}'. GET {Apis.WorkApi.BasePath}/{unknown.JobId} tells (404: it was not); submitting it again " +
                        "without an Idempotency-Key may queue it twice.",
                    Extensions = { ["callback"] = unknown.JobId },
                };
                break;
            case var _ when RedisAvailability.IsUnavailable(exception):
                logger.LogWarning("Redis is unavailable; answering 503: {Message}", exception.Message);
                context.Response.Headers.RetryAfter = RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
                problem = new ProblemDetails
                {
                    Status = StatusCodes.Status503ServiceUnavailable,
                    Title = RedisAvailability.IsOutOfMemory(exception) ? "The work queue's store is full" : "The work queue is unavailable",
                    Detail = (RedisAvailability.IsOutOfMemory(exception)
                            ? "The queue's store (Redis) refuses new data: it holds its memory limit (maxmemory) until workers drain work " +
                              "and finished jobs expire. "
                            : "A store (Redis) this request needs cannot be reached or is not serving right now. ") +
                        $"Retry in {RetryAfterSeconds} s; to retry a submission without risk of doing the work twice, send it with an " +
                        "Idempotency-Key header.",
                };
                break;
            case BadHttpRequestException bad:
                problem = new ProblemDetails { Status = bad.StatusCode, Title = "Bad request", Detail = bad.Message };
                break;
            default:
                return false;
        }

        context.Response.StatusCode = problem.Status!.Value;
        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            ProblemDetails = problem,
            Exception = exception,
        });
    }
}
