using System.Security.Cryptography;
using System.Text;

namespace WorkCluster.Handlers;

/// <summary><c>sha256</c>: returns the lowercase hex SHA-256 of the data's JSON text exactly as submitted.</summary>
public sealed class Sha256Handler : IWorkHandler
{
    public Task<object?> HandleAsync(WorkItem item, CancellationToken cancellationToken) =>
        Task.FromResult<object?>(Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(item.RawData))));
}
