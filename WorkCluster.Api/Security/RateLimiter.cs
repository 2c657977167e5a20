using System.Globalization;
using Microsoft.Extensions.Options;
using StackExchange.Redis;
using WorkCluster.Redis;

namespace WorkCluster.Api.Security;

/// <summary>The API's own Lua scripts.</summary>
public sealed class ApiScripts : IRedisScriptSet
{
    public RedisScript TokenBucket { get; } = RedisScript.Load(typeof(ApiScripts).Assembly, "WorkCluster.Api.Security.Scripts.", "token_bucket");

    /// <summary>The token bucket's keys: only the buckets of a batch's requests (<c>...buckets</c>), one per request.</summary>
    public ScriptKeys TokenBucketKeys => _tokenBucketKeys ??= ScriptKeys.Bind(TokenBucket, name => throw new InvalidOperationException($"token_bucket.lua names no key '{name}'."));

    private ScriptKeys? _tokenBucketKeys;

    public IEnumerable<RedisScript> All => [TokenBucket];
}

/// <summary>
/// Takes a token from the caller's bucket before an endpoint runs (see <see cref="RateLimitOptions"/>); answers 429
/// with <c>Retry-After</c> when there is none. Every limited answer carries the IETF <c>RateLimit-Policy</c> and
/// <c>RateLimit</c> headers (draft-ietf-httpapi-ratelimit-headers): <c>q</c> the bucket's size, <c>w</c> the seconds it
/// takes to refill, <c>r</c> the requests left now, <c>t</c> the seconds until the bucket is full again. While Redis is
/// unreachable nothing is limited (the endpoint then answers 503 itself, or serves what needs no Redis).
/// </summary>
public sealed partial class RateLimitMiddleware(RequestDelegate next, IConnectionMultiplexer redis, RedisKeyspace keyspace,
    ApiScripts scripts, ApiKeyStore keys, IOptions<RateLimitOptions> options, IProblemDetailsService problems, ILogger<RateLimitMiddleware> logger)
{
    private readonly RateLimitOptions _options = options.Value;

    /// <summary>Checks made while earlier ones are on their way to Redis go together, in one script call.</summary>
    private readonly GroupCommit<(RedisKey Bucket, double PerSecond, int Burst), Taken> _checks = new(
        batch => TakeAsync(redis, scripts, batch), _ => 0, maxBatch: 100, maxBytes: int.MaxValue, maxInFlight: 2,
        maxWait: RedisHostingExtensions.CommandTimeout);

    private readonly record struct Taken(bool Allowed, long Remaining, long WaitMs, long FullMs);

    private static async Task<Taken[]> TakeAsync(IConnectionMultiplexer redis, ApiScripts scripts,
        IReadOnlyList<(RedisKey Bucket, double PerSecond, int Burst)> batch)
    {
        var buckets = new RedisKey[batch.Count];
        var values = new RedisValue[batch.Count * 2];
        for (var i = 0; i < batch.Count; i++)
        {
            buckets[i] = batch[i].Bucket;
            values[2 * i] = batch[i].PerSecond.ToString(CultureInfo.InvariantCulture);
            values[2 * i + 1] = batch[i].Burst;
        }
        var reply = (RedisResult[])(await scripts.TokenBucket.EvaluateAsync(redis.GetDatabase(), scripts.TokenBucketKeys.Keys(buckets), values).ConfigureAwait(false))!;
        var taken = new Taken[batch.Count];
        for (var i = 0; i < taken.Length; i++)
        {
            taken[i] = new Taken((int)reply[4 * i] == 1, (long)reply[4 * i + 1], (long)reply[4 * i + 2], (long)reply[4 * i + 3]);
        }
        return taken;
    }

    public async Task InvokeAsync(HttpContext context)
    {
        if (!_options.Enabled || context.GetEndpoint()?.Metadata.GetMetadata<ScopeMetadata>() is not { } scopes)
        {
            await next(context);
            return;
        }

        var kind = scopes.AnyOf[0];
        var keyName = context.User.Identity is { IsAuthenticated: true } && !AnonymousAccess.IsAnonymous(context.User)
            ? context.User.Identity.Name
            : null;
        var limit = keyName is null ? _options.Anonymous : keys.ByName(keyName)?.RateLimit ?? _options.For(kind);
        var partition = keyName is null ? $"ip:{AddressPartition(context.Connection.RemoteIpAddress)}" : $"key:{keyName}";

        Taken taken;
        try
        {
            taken = await _checks.RunAsync((keyspace.Key($"rl:{kind}:{partition}"), limit.PerSecond, limit.Burst));
        }
        catch (Exception e) when (RedisAvailability.IsUnavailable(e))
        {
            // Redis is away: the request is not limited (the endpoint answers 503 itself, or serves what needs no Redis).
            // Anything else (a script error, a refused command) is a bug to see, not a reason to stop limiting.
            LogNotLimited(logger, e.Message);
            await next(context);
            return;
        }

        var (allowed, remaining, waitMs, fullMs) = taken;
        var refill = (int)Math.Ceiling(limit.Burst / limit.PerSecond);
        var policy = keyName is null ? "anonymous" : kind;
        context.Response.Headers["RateLimit-Policy"] = $"\"{policy}\";q={limit.Burst};w={refill}";
        context.Response.Headers["RateLimit"] = $"\"{policy}\";r={remaining};t={Seconds(fullMs)}";
        if (allowed)
        {
            await next(context);
            return;
        }

        var retryAfter = Math.Max(1, Seconds(waitMs));
        context.Response.StatusCode = StatusCodes.Status429TooManyRequests;
        context.Response.Headers.RetryAfter = retryAfter.ToString(CultureInfo.InvariantCulture);
        await ProblemWriter.WriteAsync(context, problems, StatusCodes.Status429TooManyRequests, "Too many requests",
            (keyName is null
                ? $"Callers without a key may make {limit.PerSecond:0.###} {kind} requests a second from one address (bursts of {limit.Burst}). "
                : $"The key '{keyName}' may make {limit.PerSecond:0.###} {kind} requests a second (bursts of {limit.Burst}). ") +
            $"Retry in {retryAfter} s.");
    }

    /// <summary>The address a caller without a key is counted on: IPv4 as it is, IPv6 by its /64 (one host's usual share).</summary>
    private static string AddressPartition(System.Net.IPAddress? address)
    {
        if (address is null)
        {
            return "unknown";
        }
        if (address.IsIPv4MappedToIPv6)
        {
            return address.MapToIPv4().ToString();
        }
        if (address.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6)
        {
            return address.ToString();
        }
        var bytes = address.GetAddressBytes();
        Array.Clear(bytes, 8, 8);
        return new System.Net.IPAddress(bytes) + "/64";
    }

    private static long Seconds(long milliseconds) => (milliseconds + 999) / 1000;

    [LoggerMessage(LogLevel.Warning, "Rate limit not applied, Redis is unavailable: {Message}")]
    private static partial void LogNotLimited(ILogger logger, string message);
}
