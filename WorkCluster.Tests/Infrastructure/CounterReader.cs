using System.Diagnostics.Metrics;

namespace WorkCluster.Tests.Infrastructure;

/// <summary>The sum of what a counter named <c>name</c> recorded, on the meters of one scope, since this reader was made.</summary>
public sealed class CounterReader : IDisposable
{
    private readonly MeterListener _listener = new();
    private long _total;

    public CounterReader(object scope, string name)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Name == name && ReferenceEquals(instrument.Meter.Scope, scope))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref _total, value));
        _listener.Start();
    }

    public long Total => Interlocked.Read(ref _total);

    public void Dispose() => _listener.Dispose();
}
