using System.ComponentModel.DataAnnotations;

namespace WorkCluster.Api;

/// <summary>Settings of the work API, from the <c>Work</c> configuration section.</summary>
public sealed class WorkApiOptions
{
    /// <summary>The largest request body POST /api/v1/work accepts, in bytes.</summary>
    [Range(16, 64 * 1024 * 1024)]
    public int MaxPayloadBytes { get; set; } = 1024 * 1024;

    /// <summary>The longest a GET may wait for a job to finish (<c>?wait=</c>), in seconds.</summary>
    [Range(1, 3600)]
    public int MaxWaitSeconds { get; set; } = 60;
}

/// <summary>The name of this API instance, reported as <c>accepted_by</c>.</summary>
public sealed record ApiInstance(string Name);
