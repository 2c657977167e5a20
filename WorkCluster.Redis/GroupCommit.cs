namespace WorkCluster.Redis;

/// <summary>
/// Group commit: concurrent calls of one kind (submissions, completions, rate-limit checks) are sent to Redis together, as one script
/// call, without waiting for company. A call goes out at once while fewer than <c>maxInFlight</c> batches are on the
/// way; otherwise it waits for the next free one and leaves with every call that arrived meanwhile (at most
/// <c>maxBatch</c> of them, and the data budget). There is no timer: an idle queue sends each call alone, a busy one
/// sends fewer, fuller calls, and no call waits longer than the batch ahead of it takes.
/// </summary>
/// <remarks>
/// Each batch is one script call, so every call in it shares its fate: a batch refused (Redis unreachable, out of
/// memory, a timeout) fails every call in it with the same exception, exactly as each would have failed alone.
/// </remarks>
public sealed class GroupCommit<TItem, TResult>
{
    private readonly Func<IReadOnlyList<TItem>, Task<TResult[]>> _send;
    private readonly Func<TItem, int> _size;
    private readonly int _maxBatch;
    private readonly int _maxBytes;
    private readonly int _maxInFlight;
    private readonly Lock _lock = new();
    private readonly Queue<(TItem Item, TaskCompletionSource<TResult> Done)> _waiting = new();
    private int _inFlight;

    /// <param name="send">Sends a batch as one call; returns one result per item, in order.</param>
    /// <param name="size">An item's size in bytes, for the data budget of a batch (the first item always goes).</param>
    public GroupCommit(Func<IReadOnlyList<TItem>, Task<TResult[]>> send, Func<TItem, int> size, int maxBatch, int maxBytes, int maxInFlight)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBatch, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxInFlight, 1);
        _send = send;
        _size = size;
        _maxBatch = maxBatch;
        _maxBytes = maxBytes;
        _maxInFlight = maxInFlight;
    }

    public Task<TResult> RunAsync(TItem item)
    {
        // Continuations run on the thread pool: one batch's reply must not run every caller's rest inline, one by one.
        var done = new TaskCompletionSource<TResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        bool start;
        lock (_lock)
        {
            _waiting.Enqueue((item, done));
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
            List<(TItem Item, TaskCompletionSource<TResult> Done)> batch;
            lock (_lock)
            {
                if (_waiting.Count == 0)
                {
                    _inFlight--;
                    return;
                }
                batch = new List<(TItem, TaskCompletionSource<TResult>)>(Math.Min(_waiting.Count, _maxBatch));
                var bytes = 0;
                while (_waiting.Count > 0 && batch.Count < _maxBatch)
                {
                    var size = _size(_waiting.Peek().Item);
                    if (batch.Count > 0 && bytes + size > _maxBytes)
                    {
                        break;
                    }
                    bytes += size;
                    batch.Add(_waiting.Dequeue());
                }
            }
            try
            {
                var results = await _send(batch.ConvertAll(entry => entry.Item)).ConfigureAwait(false);
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
}
