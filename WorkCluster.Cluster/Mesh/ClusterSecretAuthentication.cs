using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace WorkCluster.Cluster.Mesh;

/// <summary>
/// Admits a mesh connection that proves the cluster secret (<see cref="MeshCredentials"/>), sent as
/// <c>Authorization: Bearer</c> (never in the query string: URLs end up in logs). Everything else gets 401, and the
/// refusal is logged.
/// </summary>
public sealed partial class ClusterSecretAuthentication(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory loggerFactory,
    UrlEncoder encoder,
    MeshCredentials credentials) : AuthenticationHandler<AuthenticationSchemeOptions>(options, loggerFactory, encoder)
{
    public const string SchemeName = "ClusterSecret";
    public const string NodeClaim = "workcluster/node";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var header = Request.Headers.Authorization.ToString();
        var token = header.StartsWith("Bearer ", StringComparison.Ordinal) ? header["Bearer ".Length..] : null;
        var node = credentials.Validate(token, out var failure);
        if (node is null)
        {
            LogRefused(Logger, Context.Connection.RemoteIpAddress?.ToString(), failure!);
            return Task.FromResult(AuthenticateResult.Fail(failure!));
        }
        var identity = new ClaimsIdentity([new Claim(NodeClaim, node)], SchemeName);
        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName)));
    }

    [LoggerMessage(LogLevel.Warning, "Mesh connection from {Remote} refused: {Reason}")]
    private static partial void LogRefused(ILogger logger, string? remote, string reason);
}
