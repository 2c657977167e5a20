using StackExchange.Redis;
using WorkCluster.Redis;

namespace WorkCluster.Tests.Unit;

/// <summary>
/// Group commit's batching and ordering, against a send function of the test's own (no store): calls made while a batch
/// is on its way leave together, in the order they were made, each with its own result; a batch shares its fate; the
/// limits (calls, bytes, batches in flight, wait) hold.
/// </summary>
public sealed class GroupCommitUnitTests
{
    /// <summary>A send function whose batches the test releases one at a time.</summary>
    private sealed class Gate
    {
        private readonly Lock _lock = new();
        private readonly List<(IReadOnlyList<int> Items, TaskCompletionSource<int[]> Reply)> _sent = [];
        private int _inFlight;

        public int MostInFlight { get; private set; }

        public IReadOnlyList<IReadOnlyList<int>> Batches
        {
            get { lock (_lock) { return _sent.Select(s => s.Items).ToList(); } }
        }

        public Task<int[]> SendAsync(IReadOnlyList<int> items)
        {
            var reply = new TaskCompletionSource<int[]>(TaskCreationOptions.RunContinuationsAsynchronously);
            lock (_lock)
            {
                _sent.Add((items.ToList(), reply));
                MostInFlight = Math.Max(MostInFlight, ++_inFlight);
            }
            return reply.Task;
        }

        /// <summary>Answers batch <paramref name="index"/>: each item's result is the item times ten.</summary>
        public void Answer(int index)
        {
            (IReadOnlyList<int> Items, TaskCompletionSource<int[]> Reply) batch;
            lock (_lock)
            {
                batch = _sent[index];
                _inFlight--;
            }
            batch.Reply.SetResult(batch.Items.Select(i => i * 10).ToArray());
        }

        public void Fail(int index, Exception e)
        {
            TaskCompletionSource<int[]> reply;
            lock (_lock)
            {
                reply = _sent[index].Reply;
                _inFlight--;
            }
            reply.SetException(e);
        }

        public async Task WaitForBatchesAsync(int count)
        {
            for (var i = 0; i < 500 && Batches.Count < count; i++)
            {
                await Task.Delay(10);
            }
            Assert.Equal(count, Batches.Count);
        }
    }

    [Fact]
    [Trait("Category", "Unit")]
    public async Task Calls_made_while_a_batch_is_on_its_way_leave_together_in_their_order_each_with_its_own_result()
    {
        var gate = new Gate();
        var commit = new GroupCommit<int, int>(gate.SendAsync, _ => 1, maxBatch: 100, maxBytes: int.MaxValue, maxInFlight: 1, TimeSpan.FromMinutes(1));

        var first = commit.RunAsync(0); // leaves alone: nothing is on its way
        await gate.WaitForBatchesAsync(1);
        var waiting = Enumerable.Range(1, 10).Select(commit.RunAsync).ToArray();
        Assert.Single(gate.Batches); // one batch in flight at most: the ten wait
        gate.Answer(0);
        await gate.WaitForBatchesAsync(2);
        gate.Answer(1);

        Assert.Equal(0, await first);
        Assert.Equal(Enumerable.Range(1, 10).Select(i => i * 10), await Task.WhenAll(waiting));
        Assert.Equal([[0], Enumerable.Range(1, 10).ToList()], gate.Batches);
    }

    [Fact]
    [Trait("Category", "Unit")]
    public async Task A_batch_holds_at_most_max_batch_calls_and_its_byte_budget_and_its_first_call_always()
    {
        var gate = new Gate();
        var commit = new GroupCommit<int, int>(gate.SendAsync, item => item, maxBatch: 3, maxBytes: 10, maxInFlight: 1, TimeSpan.FromMinutes(1));

        var blocker = commit.RunAsync(1);
        await gate.WaitForBatchesAsync(1);
        // Sizes are the items: 2+2+2 fits 3 calls; then 9 alone (9+1 > 10 is not reached: 9+20 is); 20 alone, past the
        // budget, because a batch's first call always goes; then 1.
        var calls = new[] { 2, 2, 2, 2, 9, 20, 1 }.Select(commit.RunAsync).ToArray();
        for (var i = 0; i < 5; i++)
        {
            gate.Answer(i);
            await gate.WaitForBatchesAsync(i + 2);
        }
        gate.Answer(5);
        await Task.WhenAll(calls.Append(blocker));

        Assert.Equal([[1], [2, 2, 2], [2], [9], [20], [1]], gate.Batches.Select(b => b.ToArray()).ToArray());
    }

    [Fact]
    [Trait("Category", "Unit")]
    public async Task No_more_than_max_in_flight_batches_are_on_their_way_at_once()
    {
        var gate = new Gate();
        var commit = new GroupCommit<int, int>(gate.SendAsync, _ => 1, maxBatch: 1, maxBytes: int.MaxValue, maxInFlight: 2, TimeSpan.FromMinutes(1));

        var calls = Enumerable.Range(0, 6).Select(commit.RunAsync).ToArray();
        await gate.WaitForBatchesAsync(2);
        await Task.Delay(50);
        Assert.Equal(2, gate.Batches.Count);
        for (var i = 0; i < 6; i++)
        {
            await gate.WaitForBatchesAsync(Math.Min(6, i + 2));
            gate.Answer(i);
        }
        Assert.Equal(Enumerable.Range(0, 6).Select(i => i * 10), await Task.WhenAll(calls));
        Assert.Equal(2, gate.MostInFlight);
    }

    [Fact]
    [Trait("Category", "Unit")]
    public async Task A_batch_that_fails_fails_every_call_in_it_and_no_other()
    {
        var gate = new Gate();
        var commit = new GroupCommit<int, int>(gate.SendAsync, _ => 1, maxBatch: 100, maxBytes: int.MaxValue, maxInFlight: 1, TimeSpan.FromMinutes(1));

        var alone = commit.RunAsync(0);
        await gate.WaitForBatchesAsync(1);
        var together = new[] { commit.RunAsync(1), commit.RunAsync(2) };
        var refused = new RedisConnectionException(ConnectionFailureType.SocketFailure, "gone");
        gate.Fail(0, refused);
        await gate.WaitForBatchesAsync(2);
        gate.Answer(1);

        Assert.Same(refused, await Assert.ThrowsAsync<RedisConnectionException>(() => alone));
        Assert.Equal(new[] { 10, 20 }, await Task.WhenAll(together));
    }

    [Fact]
    [Trait("Category", "Unit")]
    public async Task A_send_that_answers_the_wrong_number_of_results_fails_its_calls_instead_of_mixing_them_up()
    {
        var commit = new GroupCommit<int, int>(items => Task.FromResult(new[] { 1 }), _ => 1, maxBatch: 100, maxBytes: int.MaxValue,
            maxInFlight: 1, TimeSpan.FromMinutes(1));
        var gate = new TaskCompletionSource();
        // Two calls in one batch: the first blocks the loop until both wait.
        var slow = new GroupCommit<int, int>(async items => { await gate.Task; return [1]; }, _ => 1, 100, int.MaxValue, 1, TimeSpan.FromMinutes(1));
        var first = slow.RunAsync(0);
        var a = slow.RunAsync(1);
        var b = slow.RunAsync(2);
        gate.SetResult();

        Assert.Equal(1, await first);
        await Assert.ThrowsAsync<InvalidOperationException>(() => a);
        await Assert.ThrowsAsync<InvalidOperationException>(() => b);
        Assert.Equal(1, await commit.RunAsync(5));
    }

    [Fact]
    [Trait("Category", "Unit")]
    public async Task A_call_that_waited_past_its_limit_behind_an_unanswered_batch_fails_unsent()
    {
        var gate = new Gate();
        var commit = new GroupCommit<int, int>(gate.SendAsync, _ => 1, maxBatch: 100, maxBytes: int.MaxValue, maxInFlight: 1, TimeSpan.FromMilliseconds(50));

        var first = commit.RunAsync(0);
        await gate.WaitForBatchesAsync(1);
        var late = commit.RunAsync(1);
        await Task.Delay(200);
        gate.Answer(0);

        Assert.Equal(0, await first);
        var timeout = await Assert.ThrowsAsync<RedisTimeoutException>(() => late);
        Assert.Equal(CommandStatus.WaitingToBeSent, timeout.Commandstatus);
        Assert.Single(gate.Batches); // never sent
    }
}
