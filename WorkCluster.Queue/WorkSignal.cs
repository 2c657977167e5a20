using Microsoft.Extensions.Logging;
using StackExchange.Redis;
using WorkCluster.Redis;

namespace WorkCluster.Queue;

/// <summary>
/// Lets an idle worker sleep until work arrives: a blocking BLPOP on the queue's signal list, on a connection of
/// its own (a blocking command would stall every other command sharing a multiplexed connection).
/// </summary>
public sealed class WorkSignal : IAsyncDisposable
{
    private readonly ConfigurationOptions _configuration;
    private readonly QueueKeys _keys;
    private readonly ILogger<WorkSignal> _logger;
    private readonly SemaphoreSlim _connectLock = new(1, 1);
    private ConnectionMultiplexer? _connection;

    public WorkSignal(RedisConnectionSettings settings, QueueKeys keys, ILogger<WorkSignal> logger)
    {
        _configuration = settings.Configuration.Clone();
        // A BLPOP may wait MaxWait on the server; the client must wait longer than that before it gives up.
        _configuration.AsyncTimeout = (int)(MaxWait + TimeSpan.FromSeconds(5)).TotalMilliseconds;
        _keys = keys;
        _logger = logger;
    }

    /// <summary>Commands this connection has sent (BLPOPs and the connection's own upkeep), for measuring round trips.</summary>
    public long OperationCount => _connection?.OperationCount ?? 0;

    /// <summary>The longest a single wait blocks; after it the caller looks at the queue anyway.</summary>
    public static TimeSpan MaxWait { get; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Waits until a wake-up token is in the signal list (and takes it), or <paramref name="atMost"/> (at most
    /// <see cref="MaxWait"/>, at least 10 ms) has passed: e.g. until the next scheduled job falls due. Returns true if
    /// a token was taken.
    /// </summary>
    public async Task<bool> WaitAsync(CancellationToken cancellationToken, TimeSpan? atMost = null)
    {
        var connection = await ConnectAsync().ConfigureAwait(false);
        var wait = Math.Clamp((atMost ?? MaxWait).TotalSeconds, 0.01, MaxWait.TotalSeconds);
        var blocking = connection.GetDatabase().ExecuteAsync("BLPOP", _keys.Signal,
            Math.Round(wait, 3).ToString(System.Globalization.CultureInfo.InvariantCulture));
        try
        {
            var result = await blocking.WaitAsync(cancellationToken).ConfigureAwait(false);
            return !result.IsNull;
        }
        catch (Exception e) when (e is not (RedisException or TimeoutException) && !cancellationToken.IsCancellationRequested)
        {
            // The client library failed the blocked command in a way of its own: cancelled it, or its reader broke
            // ("Reading is not allowed after reader was completed"); both were seen on Garnet while stores were killed
            // and restarted. A passing outage like any other, not the end of the worker: this connection is dropped,
            // the next wait opens a new one.
            _logger.LogWarning(e, "The blocking connection for work signals failed; it is opened again");
            await ResetAsync(connection).ConfigureAwait(false);
            throw new RedisConnectionException(ConnectionFailureType.SocketFailure,
                $"The blocking wait for work failed on its connection ({e.GetType().Name}: {e.Message}).", e);
        }
    }

    private async Task<ConnectionMultiplexer> ConnectAsync()
    {
        if (_connection is { } existing)
        {
            return existing;
        }
        await _connectLock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_connection is null)
            {
                _logger.LogDebug("Opening the blocking connection for work signals");
                _connection = await ConnectionMultiplexer.ConnectAsync(_configuration).ConfigureAwait(false);
            }
            return _connection;
        }
        finally
        {
            _connectLock.Release();
        }
    }

    /// <summary>Drops <paramref name="failed"/> if it is still the connection in use: the next wait connects anew.</summary>
    private async Task ResetAsync(ConnectionMultiplexer failed)
    {
        await _connectLock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (!ReferenceEquals(_connection, failed))
            {
                return;
            }
            _connection = null;
        }
        finally
        {
            _connectLock.Release();
        }
        try
        {
            await failed.CloseAsync(allowCommandsToComplete: false).ConfigureAwait(false);
            await failed.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception e)
        {
            _logger.LogDebug(e, "Closing the failed blocking connection");
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_connection is not null)
        {
            // Do not wait for a BLPOP still blocked on the server: it would hold the process up to MaxWait.
            await _connection.CloseAsync(allowCommandsToComplete: false).ConfigureAwait(false);
            await _connection.DisposeAsync().ConfigureAwait(false);
        }
        _connectLock.Dispose();
    }
}
