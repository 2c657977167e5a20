using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace WorkCluster.Cluster.Mesh;

/// <summary>
/// Proof of the cluster secret without sending it: a token <c>{node}.{unix seconds}.{HMAC-SHA256(secret, node.time)}</c>,
/// valid for <see cref="MaxClockSkew"/> either side of the receiver's clock, made afresh for every connection.
/// </summary>
public sealed class MeshCredentials(IOptions<ClusterOptions> options, TimeProvider time)
{
    public static readonly TimeSpan MaxClockSkew = TimeSpan.FromMinutes(2);

    private byte[] Key => Encoding.UTF8.GetBytes(options.Value.Secret
        ?? throw new InvalidOperationException("Cluster:Secret is not set: this process cannot join the mesh."));

    /// <summary>A token for <paramref name="nodeId"/>, good for the next <see cref="MaxClockSkew"/>.</summary>
    public string CreateToken(string nodeId)
    {
        var payload = $"{nodeId}.{time.GetUtcNow().ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture)}";
        return $"{payload}.{Sign(payload)}";
    }

    /// <summary>The node a valid token speaks for, or null with the reason it is not valid.</summary>
    public string? Validate(string? token, out string? failure)
    {
        failure = null;
        var parts = token?.Split('.') ?? [];
        if (parts.Length != 3 || parts[0].Length == 0)
        {
            failure = "no cluster token";
            return null;
        }
        if (!long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var seconds)
            || Math.Abs(time.GetUtcNow().ToUnixTimeSeconds() - seconds) > MaxClockSkew.TotalSeconds)
        {
            failure = "the token is expired or its clock is off";
            return null;
        }
        var expected = Encoding.ASCII.GetBytes(Sign($"{parts[0]}.{parts[1]}"));
        if (!CryptographicOperations.FixedTimeEquals(expected, Encoding.ASCII.GetBytes(parts[2])))
        {
            failure = "the token is not signed with the cluster secret";
            return null;
        }
        return parts[0];
    }

    private string Sign(string payload) => Convert.ToHexStringLower(HMACSHA256.HashData(Key, Encoding.UTF8.GetBytes(payload)));
}
