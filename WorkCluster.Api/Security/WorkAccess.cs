using System.Security.Claims;

namespace WorkCluster.Api.Security;

/// <summary>Which work a caller may see and change: its own with <c>submit</c>, any with <c>read</c> (see) or <c>admin</c> (see and change).</summary>
public static class WorkAccess
{
    /// <summary>The owner recorded with the work this caller submits: its key's name, or <see cref="ApiScopes.AnonymousOwner"/>.</summary>
    public static string Owner(ClaimsPrincipal user) => user.FindFirst(ApiScopes.NameClaimType)?.Value ?? ApiScopes.AnonymousOwner;

    public static bool Has(ClaimsPrincipal user, string scope) => user.HasClaim(ApiScopes.ClaimType, scope);

    /// <summary>Whether the caller may read work owned by <paramref name="owner"/>.</summary>
    public static bool CanRead(ClaimsPrincipal user, string? owner) =>
        Has(user, ApiScopes.Read) || Has(user, ApiScopes.Admin) || IsOwner(user, owner);

    /// <summary>
    /// Whether the caller may cancel work owned by <paramref name="owner"/>: its owner, or an admin key. Callers without
    /// a key all share the owner "anonymous", so they may not: one could cancel another's work.
    /// </summary>
    public static bool CanChange(ClaimsPrincipal user, string? owner) =>
        Has(user, ApiScopes.Admin) || (!AnonymousAccess.IsAnonymous(user) && IsOwner(user, owner));

    private static bool IsOwner(ClaimsPrincipal user, string? owner) =>
        owner is not null && Has(user, ApiScopes.Submit) && string.Equals(owner, Owner(user), StringComparison.Ordinal);

    /// <summary>
    /// The Idempotency-Key as stored: per owner, so one client's key never replays (or reveals) another's job; for
    /// callers without a key, per client address as well. Key names and addresses have no space and Idempotency-Keys
    /// are visible ASCII, so the parts are unambiguous.
    /// </summary>
    public static string ScopedIdempotencyKey(HttpContext context, string key) =>
        AnonymousAccess.IsAnonymous(context.User)
            ? $"{ApiScopes.AnonymousOwner}@{context.Connection.RemoteIpAddress} {key}"
            : $"{Owner(context.User)} {key}";
}
