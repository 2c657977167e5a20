using HdrHistogram;

namespace WorkCluster.Bench;

/// <summary>Latencies in microseconds, recorded in an HdrHistogram (1 µs to 1 h, 3 significant digits).</summary>
public sealed class Latency
{
    private readonly LongHistogram _histogram = new(3_600_000_000L, 3);
    private readonly Lock _lock = new();

    public long Count => _histogram.TotalCount;

    public void Record(TimeSpan latency)
    {
        var micros = Math.Clamp((long)latency.TotalMicroseconds, 1, _histogram.HighestTrackableValue);
        lock (_lock)
        {
            _histogram.RecordValue(micros);
        }
    }

    public double PercentileMs(double percentile) =>
        Count == 0 ? double.NaN : Math.Round(_histogram.GetValueAtPercentile(percentile) / 1000.0, 3);

    public LatencySummary Summary() => new(Count, PercentileMs(50), PercentileMs(99), Count == 0 ? double.NaN : Math.Round(_histogram.GetMaxValue() / 1000.0, 3));
}

public sealed record LatencySummary(long Samples, double P50Ms, double P99Ms, double MaxMs);
