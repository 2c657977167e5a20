using System.Buffers.Text;
using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace WorkCluster.Cluster.Mesh;

/// <summary>
/// Proof of the cluster secret without sending it, good for one connection to one node:
/// <c>v1.{from}.{to}.{unix seconds}.{nonce}.{HMAC-SHA256(secret, everything before it)}</c>, node ids in base64url (so
/// an id may hold any character). The receiver accepts a token only if it names the receiver, is within
/// <see cref="MaxClockSkew"/> of its clock, and its nonce has not been seen: a token caught on the wire opens nothing
/// else, and not twice. Tokens travel only in the <c>Authorization</c> header, never in a URL.
/// </summary>
public sealed class MeshCredentials(IOptions<ClusterOptions> options, TimeProvider time, NodeIdentity identity)
{
    public static readonly TimeSpan MaxClockSkew = TimeSpan.FromMinutes(1);
    private const string Version = "v1";
    private const int NonceBytes = 16;

    /// <summary>Nonces seen, until their token could no longer be valid anyway (then they are forgotten).</summary>
    private readonly ConcurrentDictionary<string, long> _seen = new(StringComparer.Ordinal);
    private long _nextPurge;

    private byte[] Key => Encoding.UTF8.GetBytes(options.Value.Secret
        ?? throw new InvalidOperationException("Cluster:Secret is not set: this process cannot join the mesh."));

    /// <summary>A token for one connection from this node to <paramref name="targetNodeId"/>.</summary>
    public string CreateToken(string targetNodeId)
    {
        var payload = string.Join('.', Version, Base64Url.EncodeToString(Encoding.UTF8.GetBytes(identity.Id)),
            Base64Url.EncodeToString(Encoding.UTF8.GetBytes(targetNodeId)),
            time.GetUtcNow().ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture),
            Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(NonceBytes)));
        return $"{payload}.{Sign(payload)}";
    }

    /// <summary>The node a valid token speaks for (and forgets it: a second use fails), or null with the reason it is not valid.</summary>
    public string? Validate(string? token, out string? failure)
    {
        failure = null;
        var parts = token?.Split('.') ?? [];
        if (parts.Length != 6 || parts[0] != Version)
        {
            failure = "no cluster token";
            return null;
        }
        var payload = token![..token!.LastIndexOf('.')];
        var expected = Encoding.ASCII.GetBytes(Sign(payload));
        if (!CryptographicOperations.FixedTimeEquals(expected, Encoding.ASCII.GetBytes(parts[5])))
        {
            failure = "the token is not signed with the cluster secret";
            return null;
        }
        string from, to;
        try
        {
            from = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(parts[1]));
            to = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(parts[2]));
        }
        catch (FormatException)
        {
            failure = "the token's node ids are not base64url";
            return null;
        }
        if (!string.Equals(to, identity.Id, StringComparison.Ordinal))
        {
            failure = "the token is for another node";
            return null;
        }
        var now = time.GetUtcNow().ToUnixTimeSeconds();
        if (!long.TryParse(parts[3], NumberStyles.None, CultureInfo.InvariantCulture, out var seconds)
            || Math.Abs(now - seconds) > MaxClockSkew.TotalSeconds)
        {
            failure = "the token is expired or its clock is off";
            return null;
        }
        Forget(now);
        if (!_seen.TryAdd(parts[4], seconds + (long)MaxClockSkew.TotalSeconds))
        {
            failure = "the token was used before (a replay)";
            return null;
        }
        return from;
    }

    private void Forget(long now)
    {
        var next = Interlocked.Read(ref _nextPurge);
        if (now < next || Interlocked.CompareExchange(ref _nextPurge, now + 10, next) != next)
        {
            return;
        }
        foreach (var (nonce, expires) in _seen)
        {
            if (expires < now)
            {
                _seen.TryRemove(nonce, out _);
            }
        }
    }

    private string Sign(string payload) => Convert.ToHexStringLower(HMACSHA256.HashData(Key, Encoding.UTF8.GetBytes(payload)));
}
