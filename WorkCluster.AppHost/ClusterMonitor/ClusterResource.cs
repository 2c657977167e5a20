namespace Aspire.Hosting.ApplicationModel;

/// <summary>The WorkCluster itself, as the dashboard shows it: membership, queue and throughput, kept current from Redis.</summary>
public sealed class ClusterResource(string name) : Resource(name);

/// <summary>One live worker of the cluster, a child of <see cref="ClusterResource"/>, created as it joins.</summary>
public sealed class ClusterNodeResource(string name) : Resource(name);
