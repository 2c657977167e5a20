namespace WorkCluster.Api;

public static class ReplicaEndpointExtensions
{
    /// <summary>
    /// Under Aspire with several replicas, one proxy fronts them all and pins each kept-alive connection to one
    /// replica, so the gateway cannot balance or health-check replicas through it. The AppHost therefore gives
    /// every replica a port of its own (<c>Replica:Ports</c>, indexed by <c>Replica:Index</c>); the replica listens
    /// there too, and the gateway is told every such address. Nothing happens when these are not set.
    /// </summary>
    public static WebApplicationBuilder AddReplicaEndpoint(this WebApplicationBuilder builder)
    {
        var ports = builder.Configuration["Replica:Ports"];
        var index = builder.Configuration.GetValue<int?>("Replica:Index");
        if (string.IsNullOrEmpty(ports) || index is null)
        {
            return builder;
        }

        var portList = ports.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (index < 0 || index >= portList.Length)
        {
            throw new InvalidOperationException($"Replica:Index {index} is outside Replica:Ports '{ports}'.");
        }
        return builder.ListenAlsoOn($"http://localhost:{portList[index.Value]}");
    }
}
