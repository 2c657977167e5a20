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

    private RedisScript(string name, string text)
    {
        Name = name;
        Text = text;
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

    /// <summary>The script text with its includes expanded.</summary>
    public string Text { get; }

    /// <summary>The SHA1 the server knows the script by.</summary>
    public string Sha1 => Convert.ToHexStringLower(_sha1);

    /// <summary>
    /// Loads <c>Scripts/{name}.lua</c> from <paramref name="assembly"/> and expands its <c>--#include</c> lines from
    /// that assembly's <c>Scripts/includes/</c>, or else from the shared ones of this library.
    /// </summary>
    public static RedisScript Load(Assembly assembly, string resourcePrefix, string name)
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
        return new RedisScript(name, expanded.ToString());
    }

    public async Task<RedisResult> EvaluateAsync(IDatabaseAsync database, RedisKey[] keys, RedisValue[] values)
    {
        var withoutFlags = _withoutFlags;
        try
        {
            return await database.ScriptEvaluateAsync(withoutFlags ? _flaglessSha1! : _sha1, keys, values).ConfigureAwait(false);
        }
        catch (RedisServerException e) when (e.Message.StartsWith("NOSCRIPT", StringComparison.Ordinal))
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
