using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using StackExchange.Redis;

namespace WorkCluster.Redis;

/// <summary>
/// One Lua script embedded in this assembly, run with EVALSHA. If the server has lost its script cache
/// (a restart), the script is sent once with EVAL, which caches it again.
/// </summary>
public sealed class RedisScript
{
    private const string IncludeDirective = "--#include ";
    private readonly byte[] _sha1;

    private RedisScript(string name, string text, bool durable)
    {
        Name = name;
        (Text, KeyNames, RestKeys) = DeclareKeys(name, text);
        text = Text;
        Durable = durable;
        _sha1 = SHA1.HashData(Encoding.UTF8.GetBytes(text));
        if (text.StartsWith(ShebangPrefix, StringComparison.Ordinal))
        {
            // The same script for a server that has no script flags (Garnet): the flags line turned into a comment, so
            // that line numbers in errors stay the same.
            var newline = text.IndexOf('\n');
            _flagless = "-- " + text[2..newline] + " (flags: not supported by this server)" + text[newline..];
            _flaglessSha1 = SHA1.HashData(Encoding.UTF8.GetBytes(_flagless));
        }
    }

    private const string ShebangPrefix = "#!lua";
    private readonly string? _flagless;
    private readonly byte[]? _flaglessSha1;

    /// <summary>Set once the server refused the flags line (<c>#!lua flags=…</c>): from then on the script is sent without it.</summary>
    private volatile bool _withoutFlags;

    private static bool RefusesFlags(RedisServerException e) =>
        e.Message.Contains("near '#'", StringComparison.Ordinal) || e.Message.Contains("unexpected symbol near '#", StringComparison.Ordinal);

    /// <summary>The script's file name without extension, e.g. <c>claim</c>.</summary>
    public string Name { get; }

    /// <summary>
    /// Whether the script's writes must be durable before its answer is used (a submission, a claim, an outcome, a read a
    /// client is shown): with <see cref="Durability.Acknowledged"/>, a call is followed by a commit where the store needs
    /// one (<see cref="StoreCommit"/>).
    /// </summary>
    public bool Durable { get; }

    /// <summary>The script text with its includes expanded and its keys declared (see <see cref="KeyNames"/>).</summary>
    public string Text { get; }

    private const string KeysDirective = "--! keys:";

    /// <summary>
    /// The names of the keys the script is called with, in the order of <c>KEYS</c>, from its header line
    /// <c>--! keys: name name ... ...rest</c>. The script reaches each as <c>K.name</c>, never by position: when the
    /// script is loaded that line becomes <c>local K = { name = KEYS[1], ... }</c> (one line, so line numbers in errors
    /// stay those of the file). A caller binds the names to keys with <see cref="ScriptKeys"/>.
    /// </summary>
    public IReadOnlyList<string> KeyNames { get; }

    /// <summary>
    /// The name of the list of keys that follow the named ones (<c>...name</c> at the end of the declaration: the script
    /// reaches them as the Lua array <c>K.name</c>), or null if the script takes no more keys than it names.
    /// </summary>
    public string? RestKeys { get; }

    /// <summary>Turns the script's <c>--! keys:</c> line into the Lua table <c>K</c> of its keys by name.</summary>
    private static (string Text, IReadOnlyList<string> Names, string? RestName) DeclareKeys(string name, string text)
    {
        var lines = text.Split('\n');
        var at = Array.FindIndex(lines, l => l.StartsWith(KeysDirective, StringComparison.Ordinal));
        if (at < 0)
        {
            if (text.Contains("KEYS[", StringComparison.Ordinal))
            {
                throw new InvalidOperationException($"Script '{name}' uses KEYS without declaring them in a '{KeysDirective}' line.");
            }
            return (text, [], null);
        }
        if (Array.FindIndex(lines, at + 1, l => l.StartsWith(KeysDirective, StringComparison.Ordinal)) >= 0)
        {
            throw new InvalidOperationException($"Script '{name}' declares its keys twice.");
        }
        var declared = lines[at][KeysDirective.Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var names = new List<string>();
        string? rest = null;
        foreach (var word in declared)
        {
            var isRest = word.StartsWith("...", StringComparison.Ordinal);
            var key = isRest ? word[3..] : word;
            if (rest is not null)
            {
                throw new InvalidOperationException($"Script '{name}': '...{rest}' must be the last of its keys.");
            }
            if (!IsLuaName(key) || names.Contains(key) || key == rest)
            {
                throw new InvalidOperationException($"Script '{name}': '{word}' is not a key name (letters, digits, '_'), or is declared twice.");
            }
            if (isRest)
            {
                rest = key;
            }
            else
            {
                names.Add(key);
            }
        }
        var table = new StringBuilder("local K = {");
        for (var i = 0; i < names.Count; i++)
        {
            table.Append(i == 0 ? " " : ", ").Append(names[i]).Append(" = KEYS[").Append(i + 1).Append(']');
        }
        table.Append(names.Count > 0 ? " }" : "}");
        if (rest is not null)
        {
            table.Append("; K.").Append(rest).Append(" = {}; for i = ").Append(names.Count + 1).Append(", #KEYS do K.").Append(rest)
                .Append("[i - ").Append(names.Count).Append("] = KEYS[i] end");
        }
        table.Append(" -- keys:").Append(lines[at][KeysDirective.Length..]);
        lines[at] = table.ToString();
        var body = string.Join('\n', lines);
        if (body.Replace(lines[at], "", StringComparison.Ordinal).Contains("KEYS[", StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"Script '{name}' reaches a key by position (KEYS[n]): use its name, K.name.");
        }
        return (body, names, rest);
    }

    private static bool IsLuaName(string word) =>
        word.Length > 0 && (char.IsAsciiLetter(word[0]) || word[0] == '_') && word.All(c => char.IsAsciiLetterOrDigit(c) || c == '_');

    /// <summary>The SHA1 the server knows the script by.</summary>
    public string Sha1 => Convert.ToHexStringLower(_sha1);

    /// <summary>
    /// Loads <c>Scripts/{name}.lua</c> from <paramref name="assembly"/> and expands its <c>--#include</c> lines from
    /// that assembly's <c>Scripts/includes/</c>, or else from the shared ones of this library.
    /// </summary>
    /// <param name="durable">See <see cref="Durable"/>.</param>
    public static RedisScript Load(Assembly assembly, string resourcePrefix, string name, bool durable = false)
    {
        var text = ReadResource(assembly, $"{resourcePrefix}{name}.lua");
        var expanded = new StringBuilder();
        foreach (var line in text.Split('\n'))
        {
            if (line.StartsWith(IncludeDirective, StringComparison.Ordinal))
            {
                var include = line[IncludeDirective.Length..].Trim();
                expanded.Append(TryReadResource(assembly, $"{resourcePrefix}includes.{include}")
                    ?? ReadResource(typeof(RedisScript).Assembly, $"WorkCluster.Redis.Scripts.includes.{include}"));
            }
            else
            {
                expanded.Append(line).Append('\n');
            }
        }
        return new RedisScript(name, expanded.ToString(), durable);
    }

    /// <summary>A script given as its text (includes already expanded), e.g. one a test writes.</summary>
    public static RedisScript FromText(string name, string text, bool durable = false) => new(name, text, durable);

    /// <summary>
    /// Runs the script with EVALSHA (EVAL once, should the server have lost its script cache). A <see cref="Durable"/>
    /// script, given <paramref name="commit"/>, answers only once its writes are durable: where the store needs it, a
    /// commit goes right behind the call, on the same connection.
    /// </summary>
    public async Task<RedisResult> EvaluateAsync(IDatabaseAsync database, RedisKey[] keys, RedisValue[] values, StoreCommit? commit = null)
    {
        var withoutFlags = _withoutFlags;
        var durable = Durable && commit is { Commits: true };
        var evaluation = database.ScriptEvaluateAsync(withoutFlags ? _flaglessSha1! : _sha1, keys, values);
        var committed = durable ? commit!.SendAsync(database) : null; // sent now: behind the EVALSHA, ahead of anything later
        RedisResult result;
        try
        {
            result = await evaluation.ConfigureAwait(false);
        }
        catch (RedisServerException e) when (e.Message.StartsWith("NOSCRIPT", StringComparison.Ordinal))
        {
            await ObserveAsync(committed).ConfigureAwait(false);
            result = await EvaluateTextAsync(database, keys, values, withoutFlags).ConfigureAwait(false);
            committed = durable ? commit!.SendAsync(database) : null; // the text went after the first commit
        }
        catch
        {
            await ObserveAsync(committed).ConfigureAwait(false);
            throw;
        }
        if (committed is not null)
        {
            await commit!.CompleteAsync(committed).ConfigureAwait(false);
        }
        return result;
    }

    /// <summary>EVAL of the script's text (it caches it again), without its flags line where the server refuses it.</summary>
    private async Task<RedisResult> EvaluateTextAsync(IDatabaseAsync database, RedisKey[] keys, RedisValue[] values, bool withoutFlags)
    {
        try
        {
            return await database.ScriptEvaluateAsync(withoutFlags ? _flagless! : Text, keys, values).ConfigureAwait(false);
        }
        catch (RedisServerException refused) when (!withoutFlags && _flagless is not null && RefusesFlags(refused))
        {
            _withoutFlags = true;
            return await database.ScriptEvaluateAsync(_flagless, keys, values).ConfigureAwait(false);
        }
    }

    private static async Task ObserveAsync(Task? task)
    {
        if (task is null)
        {
            return;
        }
        try
        {
            await task.ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Only the script call's own outcome is the caller's.
        }
    }

    /// <summary>Puts the script into the server's cache (SCRIPT LOAD), so that the first EVALSHA finds it.</summary>
    public async Task LoadAsync(IServer server)
    {
        if (_withoutFlags)
        {
            await server.ScriptLoadAsync(_flagless!).ConfigureAwait(false);
            return;
        }
        try
        {
            await server.ScriptLoadAsync(Text).ConfigureAwait(false);
        }
        catch (RedisServerException refused) when (_flagless is not null && RefusesFlags(refused))
        {
            _withoutFlags = true;
            await server.ScriptLoadAsync(_flagless).ConfigureAwait(false);
        }
    }

    private static string ReadResource(Assembly assembly, string resourceName) =>
        TryReadResource(assembly, resourceName) ?? throw new InvalidOperationException($"Embedded script '{resourceName}' not found.");

    private static string? TryReadResource(Assembly assembly, string resourceName)
    {
        using var stream = assembly.GetManifestResourceStream(resourceName);
        if (stream is null)
        {
            return null;
        }
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd().Replace("\r\n", "\n", StringComparison.Ordinal);
    }
}
