using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;

namespace WorkCluster.Api.Security;

/// <summary>Who may call the API: the <c>Auth</c> configuration section.</summary>
public sealed class AuthOptions
{
    /// <summary>
    /// Whether a request without a key may submit work (and read, wait on and cancel work submitted so). Unset: true in
    /// Development, false elsewhere. Every other endpoint always needs a key.
    /// </summary>
    public bool? AllowAnonymousSubmit { get; set; }

    /// <summary>The keys, by name: <c>Auth:Keys:{name}:Key</c> (or <c>:Hash</c>) and <c>:Scopes</c>.</summary>
    public Dictionary<string, ApiKeyOptions> Keys { get; set; } = new(StringComparer.Ordinal);
}

/// <summary>One API key: the key itself or its SHA-256, and what it may do.</summary>
public sealed class ApiKeyOptions
{
    /// <summary>The key (a secret parameter); hashed when the API starts, never kept as sent.</summary>
    public string? Key { get; set; }

    /// <summary>The key's SHA-256 as 64 hex digits (<c>printf %s "$KEY" | sha256sum</c>), so that the API never sees the key.</summary>
    public string? Hash { get; set; }

    /// <summary>Its scopes, separated by commas or spaces: submit, read, admin, worker.</summary>
    public string? Scopes { get; set; }

    /// <summary>
    /// The key it replaces (or its SHA-256), still accepted under the same name while clients move to the new one:
    /// rotation keeps the name, so the work a client submitted stays its own.
    /// </summary>
    public string? PreviousKey { get; set; }

    public string? PreviousHash { get; set; }

    /// <summary>This key's own rate limit for every kind of request, instead of the <c>RateLimits</c> section's per scope (e.g. a customer's plan).</summary>
    public RateLimit? RateLimit { get; set; }
}

/// <summary>Refuses, at start, any key configuration that would not do what it says.</summary>
public sealed partial class AuthOptionsValidator : IValidateOptions<AuthOptions>
{
    /// <summary>The fewest characters a key given in clear may have (a generated parameter has 32 or more).</summary>
    public const int MinKeyLength = 24;

    public ValidateOptionsResult Validate(string? name, AuthOptions options)
    {
        var failures = new List<string>();
        foreach (var (keyName, key) in options.Keys)
        {
            if (!KeyName().IsMatch(keyName) || keyName == ApiScopes.AnonymousOwner)
            {
                failures.Add($"Auth:Keys:{keyName}: a key's name is 1 to 64 of A-Z a-z 0-9 . _ - and not '{ApiScopes.AnonymousOwner}'.");
            }
            if (string.IsNullOrEmpty(key.Key) == string.IsNullOrEmpty(key.Hash))
            {
                failures.Add($"Auth:Keys:{keyName}: give exactly one of Key and Hash.");
            }
            else if (key.Key is { Length: > 0 and < MinKeyLength })
            {
                failures.Add($"Auth:Keys:{keyName}:Key is shorter than {MinKeyLength} characters: use a long random key.");
            }
            else if (key.Hash is { Length: > 0 } hash && !Sha256Hex().IsMatch(hash))
            {
                failures.Add($"Auth:Keys:{keyName}:Hash must be a SHA-256 in 64 hex digits.");
            }
            var scopes = ApiKeyStore.ParseScopes(key.Scopes);
            if (scopes.Count == 0)
            {
                failures.Add($"Auth:Keys:{keyName}:Scopes is empty: give one or more of {string.Join(", ", ApiScopes.All)}.");
            }
            if (key.RateLimit?.Problem($"Auth:Keys:{keyName}:RateLimit") is { } limitProblem)
            {
                failures.Add(limitProblem);
            }
            if (key.PreviousKey is { Length: > 0 and < MinKeyLength })
            {
                failures.Add($"Auth:Keys:{keyName}:PreviousKey is shorter than {MinKeyLength} characters.");
            }
            if (key.PreviousHash is { Length: > 0 } previousHash && !Sha256Hex().IsMatch(previousHash))
            {
                failures.Add($"Auth:Keys:{keyName}:PreviousHash must be a SHA-256 in 64 hex digits.");
            }
            foreach (var unknown in scopes.Where(s => !ApiScopes.All.Contains(s)))
            {
                failures.Add($"Auth:Keys:{keyName}:Scopes: unknown scope '{unknown}' (known: {string.Join(", ", ApiScopes.All)}).");
            }
        }
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    [GeneratedRegex("^[A-Za-z0-9._-]{1,64}$")]
    private static partial Regex KeyName();

    [GeneratedRegex("^[0-9A-Fa-f]{64}$")]
    private static partial Regex Sha256Hex();
}

/// <summary>A key the API knows: its name and scopes.</summary>
public sealed record ApiKey(string Name, IReadOnlySet<string> Scopes, RateLimit? RateLimit);

/// <summary>
/// The configured keys, held only as SHA-256 hashes. A presented key is hashed and compared with every known hash in
/// constant time. SHA-256 without salt is the right tool for random keys of 24+ characters: nobody can guess such a
/// key from its hash, and checking stays cheap on every request.
/// </summary>
public sealed class ApiKeyStore
{
    private readonly (byte[] Hash, ApiKey Key)[] _keys;

    public ApiKeyStore(IOptions<AuthOptions> options)
    {
        var keys = new List<(byte[], ApiKey)>();
        foreach (var (name, entry) in options.Value.Keys)
        {
            var key = new ApiKey(name, ParseScopes(entry.Scopes), entry.RateLimit);
            keys.Add((entry.Hash is { Length: > 0 } hash ? Convert.FromHexString(hash) : Hash(entry.Key!), key));
            if (entry.PreviousHash is { Length: > 0 } previousHash)
            {
                keys.Add((Convert.FromHexString(previousHash), key));
            }
            else if (entry.PreviousKey is { Length: > 0 } previous)
            {
                keys.Add((Hash(previous), key));
            }
        }
        _keys = keys.ToArray();
        _byName = _keys.Select(k => k.Key).DistinctBy(k => k.Name).ToDictionary(k => k.Name, StringComparer.Ordinal);
    }

    private readonly Dictionary<string, ApiKey> _byName;

    /// <summary>The key named <paramref name="name"/> (as the caller's principal names it).</summary>
    public ApiKey? ByName(string name) => _byName.GetValueOrDefault(name);

    public int Count => _keys.Length;

    /// <summary>The key <paramref name="presented"/> is, or null.</summary>
    public ApiKey? Find(string presented)
    {
        var hash = Hash(presented);
        ApiKey? found = null;
        foreach (var (known, key) in _keys)
        {
            // Every hash is compared, found or not: the time taken tells nothing about which key matched.
            if (CryptographicOperations.FixedTimeEquals(known, hash))
            {
                found = key;
            }
        }
        return found;
    }

    public static byte[] Hash(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key));

    public static IReadOnlySet<string> ParseScopes(string? scopes) =>
        (scopes ?? "").Split([',', ' '], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .ToHashSet(StringComparer.Ordinal);
}
