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
    }

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
        try
        {
            return await database.ScriptEvaluateAsync(_sha1, keys, values).ConfigureAwait(false);
        }
        catch (RedisServerException e) when (e.Message.StartsWith("NOSCRIPT", StringComparison.Ordinal))
        {
            return await database.ScriptEvaluateAsync(Text, keys, values).ConfigureAwait(false);
        }
    }

    /// <summary>Puts the script into the server's cache (SCRIPT LOAD), so that the first EVALSHA finds it.</summary>
    public Task LoadAsync(IServer server) => server.ScriptLoadAsync(Text);

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
