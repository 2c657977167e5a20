namespace WorkCluster.Queue;

/// <summary>Capped exponential backoff with full jitter (a random delay up to the exponential ceiling).</summary>
public sealed class Backoff(TimeSpan initial, TimeSpan max)
{
    private int _failures;

    public void Reset() => _failures = 0;

    /// <summary>The next delay: random in [0, min(max, initial × 2^failures)].</summary>
    public TimeSpan Next()
    {
        var ceiling = Math.Min(max.TotalMilliseconds, initial.TotalMilliseconds * Math.Pow(2, Math.Min(_failures, 30)));
        _failures++;
        return TimeSpan.FromMilliseconds(Random.Shared.NextDouble() * ceiling);
    }

    public Task DelayAsync(CancellationToken cancellationToken) => Task.Delay(Next(), cancellationToken);
}
