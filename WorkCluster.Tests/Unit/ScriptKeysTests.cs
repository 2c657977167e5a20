using System.Text.RegularExpressions;
using StackExchange.Redis;
using WorkCluster.Cluster;
using WorkCluster.Queue;
using WorkCluster.Redis;
using WorkCluster.Tests.Infrastructure;

namespace WorkCluster.Tests.Unit;

/// <summary>
/// Every Lua script declares its keys by name (<c>--! keys:</c>) and reaches them only by that name (<c>K.name</c>); the
/// declaration matches what the script and the include functions it calls use, and a caller binds the names to keys,
/// never positions (<see cref="ScriptKeys"/>). No store needed.
/// </summary>
public sealed partial class ScriptKeysTests
{
    /// <summary>Every script of the product, as a file: <c>*/Scripts/*.lua</c> and the API's <c>Security/Scripts/*.lua</c>.</summary>
    private static List<string> ScriptFiles() =>
        Directory.EnumerateFiles(Repository.Root, "*.lua", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(Repository.Root, f))
            .Where(f => f.StartsWith("WorkCluster.", StringComparison.Ordinal) && !f.Contains("/bin/") && !f.Contains("/obj/")
                        && Path.GetFileName(Path.GetDirectoryName(f)) == "Scripts")
            .Order()
            .ToList();

    public static TheoryData<string> Scripts() => new(ScriptFiles());

    [Fact]
    [Trait("Category", "Unit")]
    public void Every_script_of_the_product_is_checked()
    {
        var scripts = ScriptFiles();
        Assert.Contains("WorkCluster.Queue/Scripts/claim.lua", scripts);
        Assert.Contains("WorkCluster.Cluster/Scripts/heartbeat.lua", scripts);
        Assert.Contains("WorkCluster.Api/Security/Scripts/token_bucket.lua", scripts);
        Assert.Equal(new QueueScripts().All.Count() + new ClusterScripts().All.Count() + 1, scripts.Count);
    }

    [Theory]
    [MemberData(nameof(Scripts))]
    [Trait("Category", "Unit")]
    public void A_script_uses_exactly_the_keys_it_declares_and_reaches_none_by_position(string file)
    {
        var text = File.ReadAllText(Repository.PathOf(file));
        var declaration = text.Split('\n').SingleOrDefault(l => l.StartsWith("--! keys:", StringComparison.Ordinal));
        Assert.True(declaration is not null, $"{file} has no '--! keys:' line");
        var declared = declaration![9..].Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(n => n.TrimStart('.')).ToHashSet();

        var code = WithoutComments(text);
        Assert.DoesNotMatch(@"\bKEYS\b", code);
        var functions = IncludedFunctions(file, text);
        var used = KeysUsed(code, functions);

        Assert.True(used.SetEquals(declared),
            $"{file}: used but not declared: [{string.Join(' ', used.Except(declared))}]; declared but never used: [{string.Join(' ', declared.Except(used))}]");
        // A key is always one of K: no command is given a key written as a literal.
        var literal = LiteralKeyCall().Match(code);
        Assert.False(literal.Success, $"{file}: a command is given a literal key: {literal.Value}");
    }

    [Fact]
    [Trait("Category", "Unit")]
    public void Every_script_binds_to_the_keys_of_its_keyspace_by_name()
    {
        var queueKeys = new QueueKeys(new RedisKeyspace("wc"));
        foreach (var script in new QueueScripts().All)
        {
            var perCall = script.KeyNames.Where(n => n is "claim" or "list" or "turn").ToArray();
            var keys = ScriptKeys.Bind(script, queueKeys.Named, perCall).Keys(perCall.Select(n => (n, (RedisKey)$"{{wc}}:{n}:x")).ToArray());
            Assert.Equal(script.KeyNames.Count, keys.Length);
            Assert.All(keys, key => Assert.StartsWith("{wc}:", (string)key!));
        }
        var clusterKeys = new ClusterKeys(new RedisKeyspace("wc"));
        foreach (var script in new ClusterScripts().All)
        {
            var perCall = script.KeyNames.Contains("node") ? new[] { "node" } : [];
            Assert.Equal(script.KeyNames.Count, ScriptKeys.Bind(script, clusterKeys.Named, perCall)
                .Keys(perCall.Select(n => (n, (RedisKey)"{wc}:node:x")).ToArray()).Length);
        }
    }

    [Fact]
    [Trait("Category", "Unit")]
    public void The_declaration_becomes_the_table_of_keys_on_the_same_line()
    {
        var script = RedisScript.FromText("t", "#!lua flags=allow-oom\n--! keys: jobs ready ...spent\nreturn K.jobs\n");
        var lines = script.Text.Split('\n');
        Assert.Equal("#!lua flags=allow-oom", lines[0]);
        Assert.StartsWith("local K = { jobs = KEYS[1], ready = KEYS[2] }; K.spent = {}; for i = 3, #KEYS do K.spent[i - 2] = KEYS[i] end", lines[1]);
        Assert.Equal("return K.jobs", lines[2]);
        Assert.Equal(["jobs", "ready"], script.KeyNames);
        Assert.Equal("spent", script.RestKeys);
    }

    [Fact]
    [Trait("Category", "Unit")]
    public void Keys_given_per_call_and_the_rest_land_where_the_script_declares_them()
    {
        var script = RedisScript.FromText("t", "--! keys: jobs claim ready ...spent\nreturn 1\n");
        var bound = ScriptKeys.Bind(script, name => "{wc}:" + name, "claim");

        Assert.Equal(["{wc}:jobs", "{wc}:claim:7", "{wc}:ready", "a", "b"],
            bound.Keys(["a", "b"], ("claim", "{wc}:claim:7")).Select(k => (string)k!));
        Assert.Equal(["{wc}:jobs", "{wc}:claim:8", "{wc}:ready"], bound.Keys(("claim", "{wc}:claim:8")).Select(k => (string)k!));
        Assert.Throws<InvalidOperationException>(() => bound.Keys());
        Assert.Throws<InvalidOperationException>(() => bound.Keys(("ready", "x")));
        Assert.Throws<InvalidOperationException>(() => ScriptKeys.Bind(script, name => "{wc}:" + name, "nope"));
        Assert.Throws<InvalidOperationException>(() => ScriptKeys.Bind(script, name => throw new InvalidOperationException(name)));
    }

    [Theory]
    [Trait("Category", "Unit")]
    [InlineData("--! keys: jobs\nreturn redis.call('GET', KEYS[1])\n")] // by position
    [InlineData("return redis.call('GET', KEYS[1])\n")] // no declaration
    [InlineData("--! keys: jobs jobs\nreturn 1\n")] // twice
    [InlineData("--! keys: ...rest jobs\nreturn 1\n")] // the rest not last
    [InlineData("--! keys: jobs\n--! keys: ready\nreturn 1\n")] // two declarations
    [InlineData("--! keys: job-s\nreturn 1\n")] // not a Lua name
    public void A_script_that_reaches_keys_otherwise_is_refused_when_loaded(string text) =>
        Assert.Throws<InvalidOperationException>(() => RedisScript.FromText("bad", text));

    private static string WithoutComments(string lua) =>
        string.Join('\n', lua.Split('\n').Select(line => line.StartsWith("#!", StringComparison.Ordinal) ? "" : CommentPattern().Replace(line, "")));

    /// <summary>The local functions of the includes a script names: their keys used (K.x) and the functions they call.</summary>
    private static Dictionary<string, string> IncludedFunctions(string file, string text)
    {
        var functions = new Dictionary<string, string>();
        var own = Path.Combine(Path.GetDirectoryName(Repository.PathOf(file))!, "includes");
        foreach (Match include in IncludePattern().Matches(text))
        {
            var name = include.Groups[1].Value.Trim();
            var path = File.Exists(Path.Combine(own, name)) ? Path.Combine(own, name) : Repository.PathOf(Path.Combine("WorkCluster.Redis", "Scripts", "includes", name));
            var code = WithoutComments(File.ReadAllText(path));
            var starts = FunctionPattern().Matches(code);
            for (var i = 0; i < starts.Count; i++)
            {
                var end = i + 1 < starts.Count ? starts[i + 1].Index : code.Length;
                functions[starts[i].Groups[1].Value] = code[starts[i].Index..end];
            }
        }
        return functions;
    }

    /// <summary>The keys (K.x) the code uses, itself or through the include functions it calls, however deep.</summary>
    private static HashSet<string> KeysUsed(string code, Dictionary<string, string> functions)
    {
        var used = new HashSet<string>();
        var called = new HashSet<string>();
        var pending = new Stack<string>([code]);
        while (pending.TryPop(out var body))
        {
            used.UnionWith(KeyPattern().Matches(body).Select(m => m.Groups[1].Value));
            foreach (var (name, function) in functions)
            {
                if (Regex.IsMatch(body, $@"(?<![\w.]){name}\(") && called.Add(name))
                {
                    pending.Push(function);
                }
            }
        }
        return used;
    }

    [GeneratedRegex(@"--.*$")]
    private static partial Regex CommentPattern();

    [GeneratedRegex(@"^--#include (.+)$", RegexOptions.Multiline)]
    private static partial Regex IncludePattern();

    [GeneratedRegex(@"^local function (\w+)\(", RegexOptions.Multiline)]
    private static partial Regex FunctionPattern();

    [GeneratedRegex(@"\bK\.(\w+)")]
    private static partial Regex KeyPattern();

    /// <summary>A command whose first argument is a string literal, other than those that take no key there.</summary>
    [GeneratedRegex(@"redis\.p?call\('(?!TIME'|PUBSUB'|INFO')\w+',\s*'[^']*'")]
    private static partial Regex LiteralKeyCall();
}
