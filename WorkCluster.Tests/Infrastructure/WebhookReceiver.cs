using System.Collections.Concurrent;
using System.Net;
using System.Threading.Channels;

namespace WorkCluster.Tests.Infrastructure;

/// <summary>
/// A real HTTP server of the test's own that receives webhooks on 127.0.0.1: it records every request (headers and
/// body, in order) and answers each as <see cref="Answer"/> says, given the attempt's number (1 for the first request).
/// An answer of 0 never answers: the request is held until the receiver is disposed.
/// </summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    private readonly HttpListener _listener = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _serving;
    private readonly Channel<Received> _received = Channel.CreateUnbounded<Received>();
    private int _count;

    public WebhookReceiver(Func<int, int> answer)
    {
        Answer = answer;
        Port = FreePorts.Next();
        _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
        _listener.Start();
        _serving = Task.Run(ServeAsync);
    }

    public int Port { get; }

    public string Url => $"http://127.0.0.1:{Port}/hooks/work";

    public Func<int, int> Answer { get; }

    public ConcurrentQueue<Received> All { get; } = new();

    /// <summary>The next request received (waits for it).</summary>
    public async Task<Received> NextAsync(TimeSpan? timeout = null)
    {
        using var cancel = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(30));
        return await _received.Reader.ReadAsync(cancel.Token);
    }

    private async Task ServeAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }
            _ = Task.Run(async () =>
            {
                using var body = new MemoryStream();
                await context.Request.InputStream.CopyToAsync(body);
                var attempt = Interlocked.Increment(ref _count);
                var received = new Received(attempt, DateTimeOffset.UtcNow,
                    context.Request.Headers.AllKeys.Where(k => k is not null).ToDictionary(k => k!.ToLowerInvariant(), k => context.Request.Headers[k]!),
                    body.ToArray());
                All.Enqueue(received);
                _received.Writer.TryWrite(received);
                var status = Answer(attempt);
                if (status == 0)
                {
                    try
                    {
                        await Task.Delay(Timeout.Infinite, _stop.Token);
                    }
                    catch (OperationCanceledException)
                    {
                    }
                    context.Response.Abort();
                    return;
                }
                context.Response.StatusCode = status;
                context.Response.Close();
            });
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Close();
        try
        {
            await _serving;
        }
        catch (ObjectDisposedException)
        {
        }
        _stop.Dispose();
    }

    public sealed record Received(int Attempt, DateTimeOffset At, IReadOnlyDictionary<string, string> Headers, byte[] Body)
    {
        public string Text => System.Text.Encoding.UTF8.GetString(Body);
    }
}
