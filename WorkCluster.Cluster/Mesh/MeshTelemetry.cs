using System.Diagnostics.Metrics;

namespace WorkCluster.Cluster.Mesh;

/// <summary>Mesh message counts, on the <c>WorkCluster</c> meter, tagged with the message's name.</summary>
public sealed class MeshTelemetry
{
    private readonly Counter<long> _sent;
    private readonly Counter<long> _received;

    public MeshTelemetry(IMeterFactory meters)
    {
        var meter = meters.Create("WorkCluster");
        _sent = meter.CreateCounter<long>("workcluster.mesh.messages.sent", "{message}", "Mesh messages sent (requests, one-way messages, broadcast copies)");
        _received = meter.CreateCounter<long>("workcluster.mesh.messages.received", "{message}", "Mesh messages received");
    }

    public void Sent(string type, int count = 1) => _sent.Add(count, new KeyValuePair<string, object?>("workcluster.mesh.message", type));

    public void Received(string type) => _received.Add(1, new KeyValuePair<string, object?>("workcluster.mesh.message", type));
}
