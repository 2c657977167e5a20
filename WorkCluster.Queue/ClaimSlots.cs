namespace WorkCluster.Queue;

/// <summary>
/// The slots of a process that claims work in batches (jobs, webhook deliveries): wait until one is free, take every
/// other free one with it, claim that many, give back what the claim did not fill; each piece of work frees its slot
/// when it ends. Not disposed: work still running when the claim loop ends frees its slot later (a SemaphoreSlim holds
/// nothing to dispose unless its wait handle is used).
/// </summary>
public sealed class ClaimSlots(int capacity)
{
    private readonly SemaphoreSlim _free = new(capacity, capacity);

    /// <summary>Waits until a slot is free; takes it and every other free one. Returns how many were taken.</summary>
    public async Task<int> TakeAsync(CancellationToken cancellationToken)
    {
        await _free.WaitAsync(cancellationToken).ConfigureAwait(false);
        var taken = 1;
        while (taken < capacity && _free.Wait(0))
        {
            taken++;
        }
        return taken;
    }

    /// <summary>Gives back <paramref name="count"/> slots taken but not filled (the claim found less work, or failed).</summary>
    public void Return(int count)
    {
        if (count > 0)
        {
            _free.Release(count);
        }
    }

    /// <summary>A piece of work has ended: its slot is free.</summary>
    public void Free() => _free.Release();
}
