using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;
using WorkCluster.Queue;
using WorkCluster.Redis;

namespace WorkCluster.Webhooks;

/// <summary>
/// Delivers webhooks from a background service of the API replicas and the workers, never from an API request: takes due deliveries from Redis under a lease
/// (<see cref="WorkQueue.ClaimWebhooksAsync"/>), POSTs each job's final status to its callback URL, signed, and records
/// the answer. At least once: a delivery whose process dies mid-way is taken again when its lease has passed, with the
/// same <c>webhook-id</c>, so receivers can tell a repeat. Redirects are not followed; every address connected to is
/// checked (<see cref="CallbackUrls.IsPublic"/>) unless private networks are allowed.
/// </summary>
public sealed partial class WebhookDispatcher : BackgroundService
{
    public const string UserAgent = "WorkCluster-Webhooks/1";
    private static readonly Meter Meter = new("WorkCluster");
    private static readonly Counter<long> Attempts = Meter.CreateCounter<long>("workcluster.webhook.attempts", "{attempt}",
        "Webhook delivery attempts, by outcome (delivered, retry, failed, stale).");

    private readonly WorkQueue _queue;
    private readonly WebhookOptions _options;
    private readonly string _workerId;
    private readonly ILogger<WebhookDispatcher> _logger;
    private readonly WebhookSigner? _signer;
    private readonly bool _allowPrivate;
    private readonly HttpClient _http;

    public WebhookDispatcher(WorkQueue queue, IOptions<WebhookOptions> options, IHostEnvironment environment, WebhookWorker worker,
        ILogger<WebhookDispatcher> logger)
    {
        _queue = queue;
        _options = options.Value;
        _workerId = worker.Id;
        _logger = logger;
        _signer = _options.Enabled ? new WebhookSigner(_options.Secret!) : null;
        _allowPrivate = _options.AllowPrivateNetworks ?? environment.IsDevelopment();
        _http = new HttpClient(new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseCookies = false,
            UseProxy = false, // a proxy would connect on our behalf, past the address check
            ConnectCallback = ConnectAsync,
            ConnectTimeout = TimeSpan.FromMilliseconds(_options.TimeoutMs),
            PooledConnectionLifetime = TimeSpan.FromMinutes(2), // names are resolved (and checked) again
        })
        {
            Timeout = Timeout.InfiniteTimeSpan, // each attempt has its own
        };
        _http.DefaultRequestHeaders.UserAgent.ParseAdd(UserAgent);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (_signer is null)
        {
            LogDisabled();
            return;
        }
        var slots = new ClaimSlots(_options.Concurrency);
        var running = new List<Task>();
        var backoff = new Backoff(TimeSpan.FromMilliseconds(100), RedisHostingExtensions.MaxReconnectDelay);
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                var free = await slots.TakeAsync(stoppingToken);
                IReadOnlyList<WebhookAttempt> attempts;
                try
                {
                    attempts = await _queue.ClaimWebhooksAsync(_workerId, free, _options.AttemptLease, _options.MaxAttempts);
                    backoff.Reset();
                }
                catch (Exception e) when (e is RedisException or TimeoutException)
                {
                    slots.Return(free);
                    LogRedisUnavailable(e.Message);
                    await backoff.DelayAsync(stoppingToken);
                    continue;
                }
                slots.Return(free - attempts.Count);
                running.RemoveAll(t => t.IsCompleted);
                foreach (var attempt in attempts)
                {
                    running.Add(Task.Run(async () =>
                    {
                        try
                        {
                            await DeliverAsync(attempt, stoppingToken);
                        }
                        finally
                        {
                            slots.Free();
                        }
                    }, CancellationToken.None));
                }
                if (attempts.Count == 0)
                {
                    await Task.Delay(_options.PollInterval, stoppingToken);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        // Attempts cut short by the stop record nothing: their leases pass and the deliveries are taken again.
        await Task.WhenAll(running);
    }

    private async Task DeliverAsync(WebhookAttempt attempt, CancellationToken stoppingToken)
    {
        var job = attempt.Job;
        var deliveryId = WebhookPayload.DeliveryId(job);
        var body = WebhookPayload.Build(job);
        var timestamp = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var status = 0;
        string? error = null;
        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken))
        {
            timeout.CancelAfter(_options.TimeoutMs);
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, job.Record.CallbackUrl)
                {
                    Content = new ByteArrayContent(body) { Headers = { ContentType = new("application/json") } },
                };
                request.Headers.Add("webhook-id", deliveryId);
                request.Headers.Add("webhook-timestamp", timestamp.ToString(System.Globalization.CultureInfo.InvariantCulture));
                request.Headers.Add("webhook-signature", _signer!.Sign(deliveryId, timestamp, body));
                using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
                status = (int)response.StatusCode;
                if (!response.IsSuccessStatusCode)
                {
                    error = status is >= 300 and < 400
                        ? $"The receiver answered {status} (a redirect; redirects are not followed)."
                        : $"The receiver answered {status} {response.ReasonPhrase}.";
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                // The worker stops: the attempt did not happen, so it does not count (if Redis cannot be told, its
                // lease passes and it counts; another worker makes the next one).
                try
                {
                    await _queue.ReleaseWebhookAsync(attempt).WaitAsync(TimeSpan.FromSeconds(2));
                }
                catch (Exception e) when (e is RedisException or TimeoutException)
                {
                }
                return;
            }
            catch (OperationCanceledException)
            {
                error = $"No answer within {_options.TimeoutMs} ms (Webhooks:TimeoutMs).";
            }
            catch (HttpRequestException e)
            {
                error = e.InnerException is WebhookAddressRefusedException refused ? refused.Message : $"The request failed: {e.Message}";
            }
        }

        var delivered = error is null;
        var delay = Backoff.FullJitter(_options.RetryBaseDelay, _options.RetryMaxDelay, attempt.Attempt - 1);
        for (var tries = 0; ; tries++)
        {
            try
            {
                var outcome = await _queue.RecordWebhookAsync(attempt, delivered, status, error, delay, _options.MaxAttempts);
                Attempts.Add(1, new KeyValuePair<string, object?>("outcome", outcome switch
                {
                    QueueOutcome.Delivered => "delivered",
                    QueueOutcome.RetryScheduled => "retry",
                    QueueOutcome.Failed => "failed",
                    _ => "stale",
                }));
                if (delivered)
                {
                    LogDelivered(job.Id, attempt.Attempt, status);
                }
                else
                {
                    LogAttemptFailed(job.Id, attempt.Attempt, outcome, error!);
                }
                return;
            }
            catch (Exception e) when ((e is RedisException or TimeoutException) && tries < 20 && !stoppingToken.IsCancellationRequested)
            {
                LogRedisUnavailable(e.Message);
                try
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(250), stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                return; // the lease passes; the delivery is made again (at least once)
            }
        }
    }

    /// <summary>Connects to the first address of the host that may be reached: a refused one is never connected to.</summary>
    private async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var host = context.DnsEndPoint.Host;
        var addresses = IPAddress.TryParse(host, out var literal) ? [literal] : await Dns.GetHostAddressesAsync(host, cancellationToken);
        var allowed = _allowPrivate ? addresses : addresses.Where(CallbackUrls.IsPublic).ToArray();
        if (allowed.Length == 0)
        {
            if (addresses.Length > 0)
            {
                // Named here, not in the error the client reads: the addresses of internal names are nobody's business.
                LogRefusedAddresses(host, string.Join(", ", addresses.Take(8)));
            }
            throw new WebhookAddressRefusedException(addresses.Length == 0
                ? $"'{host}' does not resolve to any address."
                : $"'{host}' resolves only to addresses a webhook may not reach (loopback, link-local, private or reserved; " +
                  "Webhooks:AllowPrivateNetworks).");
        }
        Exception? last = null;
        foreach (var address in allowed)
        {
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(new IPEndPoint(address, context.DnsEndPoint.Port), cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch (SocketException e)
            {
                socket.Dispose();
                last = e;
            }
            catch
            {
                socket.Dispose(); // cancelled (the attempt's time is up): never leak the socket
                throw;
            }
        }
        throw last!;
    }

    public override void Dispose()
    {
        _http.Dispose();
        base.Dispose();
    }

    [LoggerMessage(LogLevel.Warning, "A webhook to '{Host}' refused: it resolves only to addresses it may not reach ({Addresses})")]
    private partial void LogRefusedAddresses(string host, string addresses);

    [LoggerMessage(LogLevel.Warning, "Webhooks:Secret is not set: this worker delivers no webhooks")]
    private partial void LogDisabled();

    [LoggerMessage(LogLevel.Warning, "Redis unavailable for webhook deliveries, backing off: {Message}")]
    private partial void LogRedisUnavailable(string message);

    [LoggerMessage(LogLevel.Debug, "Webhook of job {JobId} delivered on attempt {Attempt} ({Status})")]
    private partial void LogDelivered(string jobId, int attempt, int status);

    [LoggerMessage(LogLevel.Warning, "Webhook of job {JobId}: attempt {Attempt} failed ({Outcome}): {Error}")]
    private partial void LogAttemptFailed(string jobId, int attempt, QueueOutcome outcome, string error);
}

/// <summary>The worker a <see cref="WebhookDispatcher"/> runs in (named in each attempt's state).</summary>
public sealed record WebhookWorker(string Id);

/// <summary>A callback's host may not be connected to (it resolves only to addresses that are refused).</summary>
public sealed class WebhookAddressRefusedException(string message) : IOException(message);
