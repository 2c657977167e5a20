using Microsoft.Extensions.Options;

namespace WorkCluster.Api.Security;

/// <summary>
/// Requests per caller: a token bucket per key (per client address for callers without a key) and per kind of
/// endpoint, kept in Redis so that it holds across every API replica. The <c>RateLimits</c> configuration section.
/// </summary>
public sealed class RateLimitOptions
{
    public bool Enabled { get; set; } = true;

    /// <summary>Submitting work (<c>POST /api/v1/work</c>), per key.</summary>
    public RateLimit Submit { get; set; } = new() { PerSecond = 1000, Burst = 2000 };

    /// <summary>Reading work (GET, wait, event streams), per key.</summary>
    public RateLimit Read { get; set; } = new() { PerSecond = 2000, Burst = 4000 };

    /// <summary>Admin endpoints (dead letter, cancel, schedules, cluster), per key.</summary>
    public RateLimit Admin { get; set; } = new() { PerSecond = 100, Burst = 1000 };

    /// <summary>The HTTP worker protocol, per key.</summary>
    public RateLimit Worker { get; set; } = new() { PerSecond = 1000, Burst = 2000 };

    /// <summary>Every call without a key (or with a wrong one), per client address.</summary>
    public RateLimit Anonymous { get; set; } = new() { PerSecond = 200, Burst = 400 };

    public RateLimit For(string scope) => scope switch
    {
        ApiScopes.Submit => Submit,
        ApiScopes.Read => Read,
        ApiScopes.Worker => Worker,
        _ => Admin,
    };
}

/// <summary>A token bucket: <see cref="PerSecond"/> requests a second on average, up to <see cref="Burst"/> at once.</summary>
public sealed class RateLimit
{
    public double PerSecond { get; set; }

    public int Burst { get; set; }

    /// <summary>Why this limit is not one, or null.</summary>
    public string? Problem(string name) =>
        PerSecond is >= 0.001 and <= 1_000_000 && Burst is >= 1 and <= 10_000_000
            ? null
            : $"{name}: PerSecond must be from 0.001 to 1,000,000 and Burst from 1 to 10,000,000.";
}

/// <summary>Refuses, at start, a limit that is not one (the nested limits are not seen by data annotations).</summary>
public sealed class RateLimitOptionsValidator : IValidateOptions<RateLimitOptions>
{
    public ValidateOptionsResult Validate(string? name, RateLimitOptions options)
    {
        var failures = new[]
        {
            options.Submit.Problem("RateLimits:Submit"), options.Read.Problem("RateLimits:Read"), options.Admin.Problem("RateLimits:Admin"),
            options.Worker.Problem("RateLimits:Worker"), options.Anonymous.Problem("RateLimits:Anonymous"),
        }.OfType<string>().ToArray();
        return failures.Length == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
