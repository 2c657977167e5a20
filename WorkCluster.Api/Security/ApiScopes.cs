namespace WorkCluster.Api.Security;

/// <summary>
/// What an API key may do. A key holds one or more scopes; each endpoint needs one of them.
/// </summary>
public static class ApiScopes
{
    /// <summary>Submit work, and read, wait on, stream and cancel the work this key submitted.</summary>
    public const string Submit = "submit";

    /// <summary>Read any work by id (status, result, wait, event stream).</summary>
    public const string Read = "read";

    /// <summary>Everything else: the dead letter (list, retry), cancelling any work, schedules, the cluster endpoints and events.</summary>
    public const string Admin = "admin";

    /// <summary>Lease and report work over HTTP (workers in other languages).</summary>
    public const string Worker = "worker";

    public static readonly IReadOnlySet<string> All = new HashSet<string>(StringComparer.Ordinal) { Submit, Read, Admin, Worker };

    /// <summary>The claim type a principal's scopes are held in.</summary>
    public const string ClaimType = "workcluster/scope";

    /// <summary>The claim type of the key's name (the owner of the work it submits).</summary>
    public const string NameClaimType = "workcluster/key";

    /// <summary>The owner recorded for work submitted without a key (<c>Auth:AllowAnonymousSubmit</c>); no key may be named so.</summary>
    public const string AnonymousOwner = "anonymous";
}
