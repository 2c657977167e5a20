namespace Aspire.Hosting.ApplicationModel;

/// <summary>
/// Redis run as the local <c>redis-server</c> executable (no container runtime needed), password-protected.
/// Its connection string has the same shape as the Redis container's: <c>host:port,password=...</c>.
/// </summary>
public sealed class RedisServerResource(string name, string command, string workingDirectory, ParameterResource password, bool hasUsers = true)
    : ExecutableResource(name, command, workingDirectory), IResourceWithConnectionString
{
    /// <summary>Whether it has WorkCluster's Redis users (redis-server does; the embedded Garnet store runs with its default user only).</summary>
    public bool HasUsers { get; } = hasUsers;

    public const string PrimaryEndpointName = "tcp";

    private EndpointReference? _primaryEndpoint;

    public EndpointReference PrimaryEndpoint => _primaryEndpoint ??= new(this, PrimaryEndpointName);

    public ParameterResource Password { get; } = password;

    public ReferenceExpression ConnectionStringExpression =>
        ReferenceExpression.Create($"{PrimaryEndpoint.Property(EndpointProperty.HostAndPort)},password={Password}");
}
