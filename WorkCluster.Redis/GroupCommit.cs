using System.Diagnostics;
using StackExchange.Redis;

namespace WorkCluster.Redis;

/// <summary>
/// Group commit: concurrent calls of one kind (submissions, completions, rate-limit checks) are sent to Redis together,
/// as one script call, without waiting for company. A call goes out at once while fewer than <c>maxInFlight</c>
/// batches are on the way; otherwise it waits for the next free one and leaves with every call that arrived meanwhile
/// (at most <c>maxBatch</c> of them, and the data budget). There is no timer: an idle queue sends each call alone, a
/// busy one sends fewer, fuller calls, and no call waits longer than the batch ahead of it takes.
/// </summary>
/// <remarks>
/// Each batch is one script call, so every call in it shares its fate: a batch refused (Redis unreachable, out of
/// memory, a timeout) fails every call in it with the same exception, exactly as each would have failed alone. Each
/// batch holds its calls in the order they were made; two batches on their way at once may reach Redis in either order
/// (they are sent outside the lock that orders them). Acknowledged jobs once seemed lost when Garnet was killed while
/// batches were sent under that lock. What fits is Garnet answering before its append-only file has the write, which
/// moving the send changed the timing of, not the cause: with <see cref="Durability.Acknowledged"/> every durable batch is followed by <c>COMMITAOF</c> (see
/// <see cref="StoreCommit"/>), and the store crash tests lose nothing on either store. A call found, when the next batch is formed, to
/// have waited longer than <c>maxWait</c> for the batches ahead of it (Redis connected but not answering) fails with a
/// <see cref="RedisTimeoutException"/> instead of being sent: its caller hears within about two of the connection's
/// own timeouts, not after every batch queued ahead of it has timed out in turn.
/// </remarks>
public sealed class GroupCommit<TItem, TResult>
{
    private readonly Func<IReadOnlyList<TItem>, Task<TResult[]>> _send;
    private readonly Func<TItem, int> _size;
    private readonly int _maxBatch;
    private readonly int _maxBytes;
    private readonly int _maxInFlight;
    private readonly TimeSpan _maxWait;
    private readonly Lock _lock = new();
    private readonly Queue<Waiting> _waiting = new();
    private int _inFlight;

    private readonly record struct Waiting(TItem Item, int Size, long Since, TaskCompletionSource<TResult> Done);

    /// <param name="send">Sends a batch as one call; returns one result per item, in order.</param>
    /// <param name="size">An item's size in bytes, for the data budget of a batch (the first item always goes).</param>
    /// <param name="maxWait">The longest a call waits for the batches ahead of it before it fails unsent.</param>
    public GroupCommit(Func<IReadOnlyList<TItem>, Task<TResult[]>> send, Func<TItem, int> size, int maxBatch, int maxBytes,
        int maxInFlight, TimeSpan maxWait)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBatch, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxInFlight, 1);
        _send = send;
        _size = size;
        _maxBatch = maxBatch;
        _maxBytes = maxBytes;
        _maxInFlight = maxInFlight;
        _maxWait = maxWait;
    }

    public Task<TResult> RunAsync(TItem item)
    {
        var size = _size(item); // here, so that a bad item fails its own caller, not the loop that sends batches
        // Continuations run on the thread pool: one batch's reply must not run every caller's rest inline, one by one.
        var done = new TaskCompletionSource<TResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        bool start;
        lock (_lock)
        {
            _waiting.Enqueue(new Waiting(item, size, Stopwatch.GetTimestamp(), done));
            start = _inFlight < _maxInFlight;
            if (start)
            {
                _inFlight++;
            }
        }
        if (start)
        {
            _ = SendAllAsync();
        }
        return done.Task;
    }

    /// <summary>Sends batches until nothing waits; one of at most maxInFlight such loops.</summary>
    private async Task SendAllAsync()
    {
        while (true)
        {
            var batch = new List<Waiting>();
            List<Waiting>? expired = null;
            Task<TResult[]> sent;
            lock (_lock)
            {
                var bytes = 0;
                while (_waiting.Count > 0 && batch.Count < _maxBatch)
                {
                    var next = _waiting.Peek();
                    if (Stopwatch.GetElapsedTime(next.Since) > _maxWait)
                    {
                        (expired ??= []).Add(_waiting.Dequeue());
                        continue;
                    }
                    if (batch.Count > 0 && bytes + next.Size > _maxBytes)
                    {
                        break;
                    }
                    bytes += next.Size;
                    batch.Add(_waiting.Dequeue());
                }
                if (batch.Count == 0)
                {
                    _inFlight--;
                }
            }
            sent = batch.Count == 0 ? Task.FromResult<TResult[]>([]) : SendAsync(batch);
            if (expired is not null)
            {
                var timeout = new RedisTimeoutException(
                    $"Waited more than {_maxWait.TotalMilliseconds:0} ms for earlier calls to Redis to be answered; not sent.", CommandStatus.WaitingToBeSent);
                foreach (var entry in expired)
                {
                    entry.Done.TrySetException(timeout);
                }
            }
            if (batch.Count == 0)
            {
                return;
            }
            try
            {
                var results = await sent.ConfigureAwait(false);
                if (results.Length != batch.Count)
                {
                    throw new InvalidOperationException($"A batch of {batch.Count} got {results.Length} results.");
                }
                for (var i = 0; i < batch.Count; i++)
                {
                    batch[i].Done.TrySetResult(results[i]);
                }
            }
            catch (Exception e)
            {
                foreach (var entry in batch)
                {
                    entry.Done.TrySetException(e);
                }
            }
        }
    }

    private Task<TResult[]> SendAsync(List<Waiting> batch)
    {
        try
        {
            return _send(batch.ConvertAll(entry => entry.Item));
        }
        catch (Exception e)
        {
            return Task.FromException<TResult[]>(e);
        }
    }
}
