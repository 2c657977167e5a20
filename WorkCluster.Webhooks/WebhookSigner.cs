using System.Security.Cryptography;
using System.Text;

namespace WorkCluster.Webhooks;

/// <summary>
/// Signs deliveries as Standard Webhooks does: <c>webhook-signature: v1,base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))</c>.
/// </summary>
public sealed class WebhookSigner
{
    private const string SecretPrefix = "whsec_";
    private readonly byte[] _key;

    public WebhookSigner(string secret)
    {
        _key = secret.StartsWith(SecretPrefix, StringComparison.Ordinal)
            ? Convert.FromBase64String(secret[SecretPrefix.Length..])
            : Encoding.UTF8.GetBytes(secret);
    }

    /// <summary>The <c>webhook-signature</c> header's value for a delivery.</summary>
    public string Sign(string id, long timestamp, ReadOnlySpan<byte> body)
    {
        var prefix = Encoding.UTF8.GetBytes($"{id}.{timestamp}.");
        var content = new byte[prefix.Length + body.Length];
        prefix.CopyTo(content, 0);
        body.CopyTo(content.AsSpan(prefix.Length));
        return "v1," + Convert.ToBase64String(HMACSHA256.HashData(_key, content));
    }

    /// <summary>
    /// Whether <paramref name="signatureHeader"/> (space-separated <c>v1,...</c> signatures) holds a valid signature of the
    /// delivery: what a receiver checks (with the timestamp within its tolerance).
    /// </summary>
    public bool Verify(string id, long timestamp, ReadOnlySpan<byte> body, string signatureHeader)
    {
        var expected = Encoding.ASCII.GetBytes(Sign(id, timestamp, body));
        foreach (var candidate in signatureHeader.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            if (CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(candidate), expected))
            {
                return true;
            }
        }
        return false;
    }
}
