using Microsoft.AspNetCore.Mvc;

namespace WorkCluster.Api.Security;

/// <summary>Writes a problem (RFC 9457) whatever the request's Accept header says: a refusal is never a plain-text page.</summary>
public static class ProblemWriter
{
    public static async Task WriteAsync(HttpContext context, IProblemDetailsService problems, int status, string title, string detail)
    {
        var problem = new ProblemDetails { Status = status, Title = title, Detail = detail };
        if (!await problems.TryWriteAsync(new ProblemDetailsContext { HttpContext = context, ProblemDetails = problem }))
        {
            await context.Response.WriteAsJsonAsync(problem, (System.Text.Json.JsonSerializerOptions?)null, "application/problem+json");
        }
    }
}
