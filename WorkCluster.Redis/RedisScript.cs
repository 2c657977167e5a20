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
        Text = text;
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

    /// <summary>The script text with its includes expanded.</summary>
    public string Text { get; }

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
