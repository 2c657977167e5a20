using StackExchange.Redis;

namespace WorkCluster.Redis;

/// <summary>
/// The keys of one script (<see cref="RedisScript.KeyNames"/>) bound by name: those a keyspace names once and for all,
/// resolved when bound; those that differ per call (<c>perCall</c>, e.g. the key of one claim) given by name at each
/// call. A call never depends on the order of the script's <c>KEYS</c>, and a script that names a key its keyspace does
/// not know fails when bound (at start-up), not when first run.
/// </summary>
public sealed class ScriptKeys
{
    private readonly RedisKey[] _fixed;
    private readonly string[] _perCall;
    private readonly int[] _perCallSlots;

    private ScriptKeys(RedisScript script, RedisKey[] keys, string[] perCall, int[] perCallSlots)
    {
        Script = script;
        _fixed = keys;
        _perCall = perCall;
        _perCallSlots = perCallSlots;
    }

    /// <summary>The script these keys are for.</summary>
    public RedisScript Script { get; }

    /// <summary>
    /// Binds <paramref name="script"/>'s keys: each name in <paramref name="perCall"/> is given at each call, every other
    /// one is <paramref name="resolve"/>'s key of that name (it throws for a name it does not know).
    /// </summary>
    public static ScriptKeys Bind(RedisScript script, Func<string, RedisKey> resolve, params string[] perCall)
    {
        ArgumentNullException.ThrowIfNull(script);
        foreach (var name in perCall)
        {
            if (!script.KeyNames.Contains(name))
            {
                throw new InvalidOperationException($"Script '{script.Name}' has no key '{name}' (it declares: {string.Join(' ', script.KeyNames)}).");
            }
        }
        var keys = new RedisKey[script.KeyNames.Count];
        var slots = new int[perCall.Length];
        for (var i = 0; i < keys.Length; i++)
        {
            var name = script.KeyNames[i];
            var given = Array.IndexOf(perCall, name);
            if (given >= 0)
            {
                slots[given] = i;
            }
            else
            {
                keys[i] = resolve(name);
            }
        }
        return new ScriptKeys(script, keys, perCall, slots);
    }

    /// <summary>The keys of a call that takes no key per call and no further keys (shared: not to be changed).</summary>
    public RedisKey[] Keys()
    {
        if (_perCall.Length > 0)
        {
            throw new InvalidOperationException($"Script '{Script.Name}' needs its key '{_perCall[0]}' for each call.");
        }
        return _fixed;
    }

    /// <summary>The keys of a call: <paramref name="perCall"/> by name, then <paramref name="rest"/> as the script's <see cref="RedisScript.RestKeys"/>.</summary>
    public RedisKey[] Keys(IReadOnlyCollection<RedisKey>? rest, params ReadOnlySpan<(string Name, RedisKey Key)> perCall)
    {
        if (rest is { Count: > 0 } && Script.RestKeys is null)
        {
            throw new InvalidOperationException($"Script '{Script.Name}' takes no keys beyond those it names.");
        }
        if (perCall.Length != _perCall.Length)
        {
            throw new InvalidOperationException($"Script '{Script.Name}' needs {_perCall.Length} key(s) per call ({string.Join(", ", _perCall)}), not {perCall.Length}.");
        }
        var keys = new RedisKey[_fixed.Length + (rest?.Count ?? 0)];
        _fixed.CopyTo(keys, 0);
        foreach (var (name, key) in perCall)
        {
            var given = Array.IndexOf(_perCall, name);
            if (given < 0)
            {
                throw new InvalidOperationException($"Script '{Script.Name}' takes no key '{name}' per call ({string.Join(", ", _perCall)}).");
            }
            keys[_perCallSlots[given]] = key;
        }
        if (rest is not null)
        {
            var at = _fixed.Length;
            foreach (var key in rest)
            {
                keys[at++] = key;
            }
        }
        return keys;
    }

    /// <summary>The keys of a call: <paramref name="perCall"/> by name.</summary>
    public RedisKey[] Keys(params ReadOnlySpan<(string Name, RedisKey Key)> perCall) => Keys(null, perCall);
}
