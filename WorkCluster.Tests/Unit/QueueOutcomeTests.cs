using System.Text.RegularExpressions;
using StackExchange.Redis;
using WorkCluster.Queue;
using WorkCluster.Tests.Infrastructure;

namespace WorkCluster.Tests.Unit;

/// <summary>
/// One vocabulary for every script's answer: each outcome has one name that reads back as itself, and every answer a
/// queue script can give is one of those names. No store needed.
/// </summary>
public sealed partial class QueueOutcomeTests
{
    [Fact]
    [Trait("Category", "Unit")]
    public void Every_outcome_has_one_snake_case_name_that_reads_back_as_itself()
    {
        var names = new HashSet<string>();
        foreach (var outcome in Enum.GetValues<QueueOutcome>())
        {
            var name = outcome.Name();
            Assert.Matches("^[a-z]+(_[a-z]+)*$", name);
            Assert.True(names.Add(name), $"{name} names two outcomes");
            Assert.Equal(outcome, QueueOutcomes.Parse(name));
            // The name is the enum member's, in snake_case: nobody has to look the word up.
            Assert.Equal(outcome.ToString(), string.Concat(name.Split('_').Select(w => char.ToUpperInvariant(w[0]) + w[1..])));
        }
    }

    [Theory]
    [Trait("Category", "Unit")]
    [InlineData("")]
    [InlineData("Worked")]
    [InlineData("retry")]
    [InlineData("1")]
    public void An_answer_that_is_no_outcome_is_refused_not_taken_for_another(string answer) =>
        Assert.Throws<InvalidDataException>(() => QueueOutcomes.Parse((RedisValue)answer));

    [Fact]
    [Trait("Category", "Unit")]
    public void Every_answer_a_queue_script_gives_is_an_outcome()
    {
        var answers = new List<(string Script, string Answer)>();
        foreach (var file in Directory.EnumerateFiles(Repository.PathOf("WorkCluster.Queue/Scripts"), "*.lua"))
        {
            var code = string.Join('\n', File.ReadAllLines(file).Where(l => !l.TrimStart().StartsWith("--", StringComparison.Ordinal)));
            answers.AddRange(AnswerPattern().Matches(code).Select(m => (Path.GetFileName(file), m.Groups["answer"].Value)));
        }
        // The scripts that answer outcomes are all seen (a pattern that stopped matching would pass everything).
        Assert.Superset(new HashSet<string> { "enqueue.lua", "complete.lua", "fail.lua", "release.lua", "retry.lua", "cancel.lua", "webhook_done.lua",
            "schedule_put.lua", "schedule_fire.lua" }, answers.Select(a => a.Script).ToHashSet());
        var unknown = answers
            .Where(a => !(a.Script == "enqueue.lua" && a.Answer == "duplicate")) // an id twice in one call: a bug, thrown as such
            .Where(a => !Enum.GetValues<QueueOutcome>().Any(o => o.Name() == a.Answer))
            .ToList();
        Assert.Empty(unknown);
    }

    /// <summary>A quoted word a script returns, stores as its outcome, or passes to its reply.</summary>
    [GeneratedRegex(@"(?:return \{? ?|(?:outcome|outcomes\[[^\]]+\]|replies\[i\]) = |reply\()'(?<answer>[a-z_]+)'")]
    private static partial Regex AnswerPattern();
}
