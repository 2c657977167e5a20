namespace WorkCluster.Tests.Infrastructure;

/// <summary>
/// The application with the Python worker (workers/python/worker.py) beside one .NET worker, as the AppHost runs it
/// when python3 is on the PATH; a 3 s lease, so that a killed Python worker's job comes back within seconds.
/// </summary>
public sealed class PolyglotAppFixture : AppFixture
{
    public static readonly TimeSpan LeaseTtl = TimeSpan.FromSeconds(3);

    public override int ApiReplicas => 2;

    public override int WorkerReplicas => 1;

    public override int PythonWorkers => Tools.IsInstalled("python3") ? 1 : 0;

    protected override IEnumerable<string> Settings => [$"Work:LeaseTtl={LeaseTtl}"];
}

[CollectionDefinition(Name)]
public sealed class PolyglotCollection : ICollectionFixture<PolyglotAppFixture>
{
    public const string Name = "polyglot";
}
