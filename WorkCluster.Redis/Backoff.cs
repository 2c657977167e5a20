namespace WorkCluster.Redis;

/// <summary>Capped exponential backoff with full jitter: a random delay up to the exponential ceiling.</summary>
public sealed class Backoff(TimeSpan initial, TimeSpan max)
{
    private int _failures;

    public void Reset() => _failures = 0;

    /// <summary>The next delay: random in [0, min(max, initial × 2^failures)].</summary>
    public TimeSpan Next() => FullJitter(initial, max, _failures++);

    public Task DelayAsync(CancellationToken cancellationToken) => Task.Delay(Next(), cancellationToken);

    /// <summary>A random delay in [0, min(<paramref name="max"/>, <paramref name="initial"/> × 2^<paramref name="exponent"/>)].</summary>
    public static TimeSpan FullJitter(TimeSpan initial, TimeSpan max, int exponent)
    {
        var ceiling = Math.Min(max.TotalMilliseconds, initial.TotalMilliseconds * Math.Pow(2, Math.Clamp(exponent, 0, 30)));
        return TimeSpan.FromMilliseconds(Random.Shared.NextDouble() * ceiling);
    }
}
