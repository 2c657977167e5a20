using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.Extensions.Options;
using IPNetwork = System.Net.IPNetwork;

namespace WorkCluster.Api.Security;

/// <summary>
/// Who may say where a request came from (<c>Network:TrustedProxies</c>): addresses, networks (CIDR) or host names
/// (resolved again every 30 s, for a load balancer whose address the platform assigns, such as <c>lb</c> in compose).
/// Default: this machine's loopback (the run-mode gateway). A request from anywhere else keeps its own source address
/// whatever X-Forwarded-For says: a client cannot pick the address its rate limit is counted on.
/// </summary>
public sealed class NetworkOptions
{
    public List<string> TrustedProxies { get; set; } = [];
}

public sealed partial class TrustedProxies
{
    private static readonly TimeSpan Refresh = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan RetryUnresolved = TimeSpan.FromSeconds(2);
    private readonly IPNetwork[] _networks;
    private readonly string[] _hosts;
    private readonly ILogger<TrustedProxies> _logger;
    private volatile IPAddress[] _resolved = [];
    private readonly Dictionary<string, IPAddress[]> _lastGood = new(StringComparer.OrdinalIgnoreCase);
    private long _nextResolve;
    private int _resolving;

    public TrustedProxies(IOptions<NetworkOptions> options, ILogger<TrustedProxies> logger)
    {
        _logger = logger;
        var entries = options.Value.TrustedProxies.Count > 0 ? options.Value.TrustedProxies : ["127.0.0.1", "::1"];
        var networks = new List<IPNetwork>();
        var hosts = new List<string>();
        foreach (var entry in entries.Select(e => e.Trim()).Where(e => e.Length > 0))
        {
            if (IPNetwork.TryParse(entry, out var network))
            {
                networks.Add(network);
            }
            else if (IPAddress.TryParse(entry, out var address))
            {
                networks.Add(new IPNetwork(address, address.AddressFamily == AddressFamily.InterNetwork ? 32 : 128));
            }
            else if (Uri.CheckHostName(entry) == UriHostNameType.Dns)
            {
                hosts.Add(entry);
            }
            else
            {
                throw new OptionsValidationException(nameof(NetworkOptions), typeof(NetworkOptions),
                    [$"Network:TrustedProxies: '{entry}' is not an address, a network (CIDR) or a host name."]);
            }
        }
        (_networks, _hosts) = (networks.ToArray(), hosts.ToArray());
    }

    public bool IsTrusted(IPAddress? remote)
    {
        if (remote is null)
        {
            return false;
        }
        if (remote.IsIPv4MappedToIPv6)
        {
            remote = remote.MapToIPv4();
        }
        if (_networks.Any(n => n.Contains(remote)))
        {
            return true;
        }
        if (_hosts.Length == 0)
        {
            return false;
        }
        if (Environment.TickCount64 >= Interlocked.Read(ref _nextResolve))
        {
            _ = ResolveAsync(); // the answer for this request comes from the last resolution; the next ones from the new
        }
        return _resolved.Contains(remote);
    }

    /// <summary>Resolves the host names now (at start, so that the first requests already know them).</summary>
    public async Task ResolveAsync()
    {
        if (_hosts.Length == 0 || Interlocked.Exchange(ref _resolving, 1) == 1)
        {
            return;
        }
        try
        {
            var failed = false;
            foreach (var host in _hosts)
            {
                try
                {
                    _lastGood[host] = (await Dns.GetHostAddressesAsync(host)).Select(a => a.IsIPv4MappedToIPv6 ? a.MapToIPv4() : a).ToArray();
                }
                catch (SocketException e)
                {
                    // Not up yet (compose starts the lb after the API), or DNS failed for a moment: the last good answer
                    // stands, and the name is asked again soon.
                    failed = true;
                    LogUnresolved(_logger, host, e.Message);
                }
            }
            _resolved = _lastGood.Values.SelectMany(a => a).ToArray();
            Interlocked.Exchange(ref _nextResolve, Environment.TickCount64 + (long)(failed ? RetryUnresolved : Refresh).TotalMilliseconds);
        }
        finally
        {
            Volatile.Write(ref _resolving, 0);
        }
    }

    [LoggerMessage(LogLevel.Information, "Trusted proxy {Host} does not resolve yet: {Message}")]
    private static partial void LogUnresolved(ILogger logger, string host, string message);
}

public static class TrustedProxiesExtensions
{
    /// <summary>Takes the client's address (X-Forwarded-For) and scheme (X-Forwarded-Proto) from trusted proxies only.</summary>
    public static IApplicationBuilder UseTrustedForwardedHeaders(this WebApplication app)
    {
        var trusted = app.Services.GetRequiredService<TrustedProxies>();
        _ = trusted.ResolveAsync();
        var options = new ForwardedHeadersOptions
        {
            ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto,
            ForwardLimit = 1, // the last hop's word only: the proxy in front of this replica
        };
        // Trust is decided above, per request: the middleware itself need not know the proxies.
        options.KnownIPNetworks.Clear();
        options.KnownProxies.Clear();
        return app.UseWhen(context => trusted.IsTrusted(context.Connection.RemoteIpAddress), branch => branch.UseForwardedHeaders(options));
    }
}
