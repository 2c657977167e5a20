using System.Net.Sockets;
using System.Text;
using WorkCluster.Tests.Infrastructure;

namespace WorkCluster.Tests.Api;

/// <summary>
/// X-Forwarded-For counts only from a trusted proxy (Network:TrustedProxies; by default this machine's 127.0.0.1,
/// where the gateway runs): from any other address a client cannot choose the address its calls are counted on.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class ForwardedHeadersTests(ClusterAppFixture app)
{
    private static readonly WorkCluster.Redis.RedisKeyspace Keys = new("wc");

    [Fact]
    public async Task X_forwarded_for_is_believed_from_the_trusted_proxy_only()
    {
        var port = app.ApiReplicaPorts().First(FreePorts.Listens);
        var redis = await app.RedisAsync();
        var (believed, claimed) = ($"203.0.113.{Random.Shared.Next(1, 250)}", $"198.51.100.{Random.Shared.Next(1, 250)}");

        // From 127.0.0.1 (trusted): counted on the address the proxy forwards.
        await PostAnonymouslyAsync(port, source: "127.0.0.1", forwardedFor: believed);
        Assert.True(await redis.KeyExistsAsync(Keys.Key($"rl:submit:ip:{believed}")));

        // From 127.0.0.2 (another loopback address, not trusted): its own address, whatever it claims.
        await PostAnonymouslyAsync(port, source: "127.0.0.2", forwardedFor: claimed);
        // The address's bucket is there (so the claimed one would be too, had it been believed: both live a second or more).
        Assert.True(await redis.KeyExistsAsync(Keys.Key("rl:submit:ip:127.0.0.2")));
        Assert.False(await redis.KeyExistsAsync(Keys.Key($"rl:submit:ip:{claimed}")));
    }

    private static async Task PostAnonymouslyAsync(int port, string source, string forwardedFor)
    {
        using var http = new HttpClient(new SocketsHttpHandler
        {
            ConnectCallback = async (context, cancellationToken) =>
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                socket.Bind(new IPEndPoint(IPAddress.Parse(source), 0));
                await socket.ConnectAsync(IPAddress.Loopback, port, cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            },
        });
        using var request = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{port}/api/v1/work")
        {
            Content = new StringContent("""{"type":"noop","data":1}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("X-Forwarded-For", forwardedFor);
        using var response = await http.SendAsync(request);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
    }
}
