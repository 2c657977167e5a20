using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace WorkCluster.Api.Security;

/// <summary>
/// Knows the caller by its API key, sent as <c>Authorization: Bearer &lt;key&gt;</c> or <c>X-Api-Key: &lt;key&gt;</c>
/// (never in a query string: URLs end up in logs). No key: anonymous, which may only submit work when
/// <c>Auth:AllowAnonymousSubmit</c> is on. A wrong key is refused even where no key is needed: a client that sends one
/// expects it to count. Refusals are problem+json: 401 with <c>WWW-Authenticate</c>, 403 naming the scope needed.
/// </summary>
public sealed partial class ApiKeyAuthentication(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory loggerFactory,
    UrlEncoder encoder,
    ApiKeyStore keys,
    AnonymousAccess anonymous,
    IProblemDetailsService problems) : AuthenticationHandler<AuthenticationSchemeOptions>(options, loggerFactory, encoder)
{
    public const string SchemeName = "ApiKey";
    public const string ApiKeyHeader = "X-Api-Key";
    private const string BearerPrefix = "Bearer ";
    private const string Challenge = "Bearer realm=\"WorkCluster\"";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var authorization = Request.Headers.Authorization;
        var apiKey = Request.Headers[ApiKeyHeader];
        if (authorization.Count == 0 && apiKey.Count == 0)
        {
            return Task.FromResult(anonymous.AllowSubmit
                ? AuthenticateResult.Success(Ticket(ApiScopes.AnonymousOwner, [ApiScopes.Submit], isAnonymous: true))
                : AuthenticateResult.NoResult());
        }

        string? presented = null;
        if (authorization.Count + apiKey.Count == 1)
        {
            presented = authorization.Count == 1
                ? authorization[0] is { } header && header.StartsWith(BearerPrefix, StringComparison.OrdinalIgnoreCase) ? header[BearerPrefix.Length..].Trim() : null
                : apiKey[0]?.Trim();
        }
        if (string.IsNullOrEmpty(presented))
        {
            return Task.FromResult(AuthenticateResult.Fail(
                $"Send one key, once: 'Authorization: Bearer <key>' or '{ApiKeyHeader}: <key>'."));
        }
        if (keys.Find(presented) is not { } key)
        {
            LogUnknownKey(Logger, Context.Connection.RemoteIpAddress?.ToString());
            return Task.FromResult(AuthenticateResult.Fail("The API key is not known (wrong, or rotated out)."));
        }
        return Task.FromResult(AuthenticateResult.Success(Ticket(key.Name, key.Scopes, isAnonymous: false)));
    }

    private static AuthenticationTicket Ticket(string name, IEnumerable<string> scopes, bool isAnonymous)
    {
        var claims = scopes.Select(s => new Claim(ApiScopes.ClaimType, s)).Prepend(new Claim(ApiScopes.NameClaimType, name));
        var identity = new ClaimsIdentity(claims, isAnonymous ? AnonymousAccess.AuthenticationType : SchemeName, ApiScopes.NameClaimType, null);
        return new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName);
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var failure = (await Context.AuthenticateAsync(SchemeName)).Failure;
        Response.StatusCode = StatusCodes.Status401Unauthorized;
        Response.Headers.WWWAuthenticate = failure is null ? Challenge : $"{Challenge}, error=\"invalid_token\"";
        await WriteAsync(StatusCodes.Status401Unauthorized, "API key needed",
            failure?.Message ?? $"This endpoint needs an API key with {Needed()}: send 'Authorization: Bearer <key>' or '{ApiKeyHeader}: <key>'.");
    }

    protected override async Task HandleForbiddenAsync(AuthenticationProperties properties)
    {
        if (AnonymousAccess.IsAnonymous(Context.User))
        {
            // Anonymous callers (allowed to submit) have no key at all: tell them to send one.
            await HandleChallengeAsync(properties);
            return;
        }
        Response.StatusCode = StatusCodes.Status403Forbidden;
        await WriteAsync(StatusCodes.Status403Forbidden, "Scope missing",
            $"The key '{Context.User.Identity?.Name}' does not have {Needed()}.");
    }

    private string Needed() =>
        Context.GetEndpoint()?.Metadata.GetMetadata<ScopeMetadata>() is { } needed
            ? needed.AnyOf.Count == 1 ? $"the scope '{needed.AnyOf[0]}'" : $"one of the scopes {string.Join(", ", needed.AnyOf.Select(s => $"'{s}'"))}"
            : "the scope this endpoint needs";

    private Task WriteAsync(int status, string title, string detail) => ProblemWriter.WriteAsync(Context, problems, status, title, detail);

    [LoggerMessage(LogLevel.Information, "Request from {Remote} refused: unknown API key")]
    private static partial void LogUnknownKey(ILogger logger, string? remote);
}

/// <summary>Whether callers without a key may submit work (<c>Auth:AllowAnonymousSubmit</c>, resolved for this environment).</summary>
public sealed class AnonymousAccess(bool allowSubmit)
{
    public const string AuthenticationType = "Anonymous";

    public bool AllowSubmit { get; } = allowSubmit;

    public static bool IsAnonymous(ClaimsPrincipal user) => user.Identity?.AuthenticationType == AuthenticationType;
}

/// <summary>The scopes an endpoint needs (any one of them), for the refusal's wording and the OpenAPI document.</summary>
public sealed record ScopeMetadata(IReadOnlyList<string> AnyOf);
