using System.Text.Json;
using System.Threading.Channels;
using StackExchange.Redis;
using WorkCluster.Cluster;
using WorkCluster.Queue;

namespace WorkCluster.Api.Events;

/// <summary>
/// This API replica's ear on WorkCluster's event channel (Redis pub/sub): <b>one</b> subscription per store, however
/// many requests wait for a job or stream events, fanned out here to each of them. It subscribes when the first
/// listener comes and unsubscribes once none has been left for <see cref="Linger"/>, so that a replica nobody
/// listens to receives nothing. Pub/sub loses what is published while the connection is down: when the
/// subscription's connection comes back, every listener is told (<see cref="EventSignal.Resync"/>) and reads the
/// current state again.
/// </summary>
public sealed partial class EventHub : IAsyncDisposable
{
    /// <summary>How long the subscription stays after its last listener has gone (the next one is likely soon).</summary>
    public static readonly TimeSpan Linger = TimeSpan.FromSeconds(30);

    private readonly IConnectionMultiplexer[] _stores;
    private readonly RedisChannel _channel;
    private readonly ILogger<EventHub> _logger;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Lock _listenersLock = new();
    private readonly Dictionary<string, List<JobWatch>> _jobs = new(StringComparer.Ordinal);
    private readonly List<EventStream> _streams = [];
    private readonly ITimer _idleCheck;
    private ChannelMessageQueue[]? _subscriptions;
    private int _listeners;
    private long _idleSince = -1;

    public EventHub(IConnectionMultiplexer redis, ClusterStore registry, QueueKeys keys, ILogger<EventHub> logger)
    {
        // Member events are published where the registry lives; when that is a Redis of its own, it gets a subscription too.
        _stores = registry.IsSeparate ? [redis, registry.Connection] : [redis];
        _channel = RedisChannel.Literal(keys.Events);
        _logger = logger;
        foreach (var store in _stores)
        {
            store.ConnectionRestored += OnConnectionRestored;
        }
        _idleCheck = TimeProvider.System.CreateTimer(_ => _ = UnsubscribeIfIdleAsync(), null, Linger, Linger);
    }

    /// <summary>Whether this replica is subscribed now (for tests and diagnostics).</summary>
    public bool Subscribed => Volatile.Read(ref _subscriptions) is not null;

    /// <summary>
    /// Starts listening for changes of job <paramref name="id"/>: once this returns, the subscription is in place, so a
    /// state read after it misses no later change. Dispose the watch when done.
    /// </summary>
    public async Task<JobWatch> WatchJobAsync(string id, CancellationToken cancellationToken)
    {
        var watch = new JobWatch(this, id);
        lock (_listenersLock)
        {
            if (!_jobs.TryGetValue(id, out var list))
            {
                _jobs[id] = list = [];
            }
            list.Add(watch);
            Joined();
        }
        await EnsureSubscribedAsync(watch, cancellationToken).ConfigureAwait(false);
        return watch;
    }

    /// <summary>Starts listening for every event that passes <paramref name="filter"/>. Dispose the stream when done.</summary>
    public async Task<EventStream> WatchAllAsync(EventFilter filter, CancellationToken cancellationToken)
    {
        var stream = new EventStream(this, filter);
        lock (_listenersLock)
        {
            _streams.Add(stream);
            Joined();
        }
        await EnsureSubscribedAsync(stream, cancellationToken).ConfigureAwait(false);
        return stream;
    }

    private void Joined()
    {
        _listeners++;
        _idleSince = -1;
    }

    private async Task EnsureSubscribedAsync(IDisposable listener, CancellationToken cancellationToken)
    {
        try
        {
            if (!Subscribed)
            {
                await SubscribeAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        catch
        {
            listener.Dispose(); // the caller gets no listener to dispose
            throw;
        }
    }

    internal void Remove(JobWatch watch)
    {
        lock (_listenersLock)
        {
            if (_jobs.TryGetValue(watch.JobId, out var list) && list.Remove(watch))
            {
                if (list.Count == 0)
                {
                    _jobs.Remove(watch.JobId);
                }
                Left();
            }
        }
    }

    internal void Remove(EventStream stream)
    {
        lock (_listenersLock)
        {
            if (_streams.Remove(stream))
            {
                Left();
            }
        }
    }

    private void Left()
    {
        if (--_listeners == 0)
        {
            _idleSince = Environment.TickCount64;
        }
    }

    private async Task SubscribeAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_subscriptions is not null)
            {
                return;
            }
            var subscriptions = new List<ChannelMessageQueue>(_stores.Length);
            try
            {
                foreach (var store in _stores)
                {
                    subscriptions.Add(await store.GetSubscriber().SubscribeAsync(_channel).ConfigureAwait(false));
                }
            }
            catch
            {
                // All or none: a store subscribed twice would deliver every event twice.
                await UnsubscribeAsync(subscriptions).ConfigureAwait(false);
                throw;
            }
            foreach (var queue in subscriptions)
            {
                _ = Task.Run(() => PumpAsync(queue), CancellationToken.None);
            }
            Volatile.Write(ref _subscriptions, [.. subscriptions]);
            LogSubscribed(_channel.ToString());
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task UnsubscribeIfIdleAsync()
    {
        lock (_listenersLock)
        {
            if (_listeners > 0 || _idleSince < 0 || Environment.TickCount64 - _idleSince < Linger.TotalMilliseconds)
            {
                return;
            }
        }
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            ChannelMessageQueue[]? subscriptions;
            lock (_listenersLock)
            {
                // Checked and taken in one step: a listener that comes after it finds no subscription and makes one
                // (after this, through the gate); one that came before keeps this one.
                if (_listeners > 0 || _subscriptions is null)
                {
                    return;
                }
                subscriptions = _subscriptions;
                Volatile.Write(ref _subscriptions, null);
            }
            await UnsubscribeAsync(subscriptions).ConfigureAwait(false);
            LogUnsubscribed();
        }
        finally
        {
            _gate.Release();
        }
    }

    private static async Task UnsubscribeAsync(IEnumerable<ChannelMessageQueue> subscriptions)
    {
        foreach (var subscription in subscriptions)
        {
            try
            {
                await subscription.UnsubscribeAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                // The connection is down: the subscription went with it and is not restored once unsubscribed.
            }
        }
    }

    private async Task PumpAsync(ChannelMessageQueue queue)
    {
        try
        {
            await foreach (var message in queue.ConfigureAwait(false))
            {
                try
                {
                    Dispatch(message.Message);
                }
                catch (Exception e) when (e is InvalidOperationException or JsonException or FormatException)
                {
                    LogUnreadable(e.Message); // one odd message must not stop the pump
                }
            }
        }
        catch (ChannelClosedException)
        {
        }
    }

    private void Dispatch(RedisValue message)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse((ReadOnlyMemory<byte>)message);
        }
        catch (JsonException e)
        {
            LogUnreadable(e.Message);
            return;
        }
        using (document)
        {
            if (document.RootElement.ValueKind == JsonValueKind.Array)
            {
                foreach (var element in document.RootElement.EnumerateArray())
                {
                    Dispatch(element);
                }
            }
            else
            {
                Dispatch(document.RootElement);
            }
        }
    }

    private void Dispatch(JsonElement element)
    {
        if (element.ValueKind != JsonValueKind.Object || !element.TryGetProperty("type", out var typeElement)
            || typeElement.GetString() is not { } type)
        {
            return;
        }
        var id = element.TryGetProperty("id", out var idElement) ? idElement.GetString() : null;
        var kind = element.TryGetProperty("kind", out var kindElement) ? kindElement.GetString() : null;
        JobWatch[]? watches = null;
        EventStream[] streams;
        lock (_listenersLock)
        {
            if (id is not null && _jobs.TryGetValue(id, out var list))
            {
                watches = [.. list];
            }
            streams = _streams.Count == 0 ? [] : [.. _streams];
        }
        if (watches is not null)
        {
            var signal = new EventSignal(type);
            foreach (var watch in watches)
            {
                watch.Signal(signal);
            }
        }
        if (streams.Length > 0)
        {
            string? json = null;
            foreach (var stream in streams)
            {
                if (stream.Filter.Passes(type, kind))
                {
                    stream.Post(new StreamedEvent(type, json ??= element.GetRawText()));
                }
            }
        }
    }

    private void OnConnectionRestored(object? sender, ConnectionFailedEventArgs e)
    {
        if (e.ConnectionType != ConnectionType.Subscription)
        {
            return;
        }
        JobWatch[] watches;
        EventStream[] streams;
        lock (_listenersLock)
        {
            watches = [.. _jobs.Values.SelectMany(l => l)];
            streams = [.. _streams];
        }
        LogResync(watches.Length + streams.Length);
        foreach (var watch in watches)
        {
            watch.Signal(EventSignal.Resync);
        }
        foreach (var stream in streams)
        {
            stream.Post(StreamedEvent.Gap);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _idleCheck.DisposeAsync().ConfigureAwait(false);
        foreach (var store in _stores)
        {
            store.ConnectionRestored -= OnConnectionRestored;
        }
    }

    [LoggerMessage(LogLevel.Debug, "Subscribed to {Channel}")]
    private partial void LogSubscribed(string channel);

    [LoggerMessage(LogLevel.Debug, "Unsubscribed from the event channel: no listener left")]
    private partial void LogUnsubscribed();

    [LoggerMessage(LogLevel.Warning, "An event on the event channel is not JSON; ignored: {Message}")]
    private partial void LogUnreadable(string message);

    [LoggerMessage(LogLevel.Information, "The event subscription's connection is back: {Count} listeners read the current state again")]
    private partial void LogResync(int count);
}

/// <summary>Something happened to a watched job: an event of type <paramref name="Type"/>, or a possible gap.</summary>
public sealed record EventSignal(string Type)
{
    /// <summary>Events may have been missed (the subscription's connection was lost): read the state again.</summary>
    public static readonly EventSignal Resync = new("resync");

    /// <summary>The job may have reached its end: worked, failed for good, cancelled, or the state must be read again anyway.</summary>
    public bool MayBeFinal => Type is "worked" or "failed" or "cancelled" || ReferenceEquals(this, Resync);
}

/// <summary>Listening for the changes of one job. Signals are a hint to read its state (never more than the last few).</summary>
public sealed class JobWatch : IDisposable
{
    private readonly EventHub _hub;
    private readonly Channel<EventSignal> _signals =
        Channel.CreateBounded<EventSignal>(new BoundedChannelOptions(16) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });

    internal JobWatch(EventHub hub, string jobId)
    {
        _hub = hub;
        JobId = jobId;
    }

    public string JobId { get; }

    internal void Signal(EventSignal signal) => _signals.Writer.TryWrite(signal);

    /// <summary>The next signal, or null if none came before <paramref name="timeout"/>.</summary>
    public async Task<EventSignal?> NextAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (_signals.Reader.TryRead(out var ready))
        {
            return ready;
        }
        if (timeout <= TimeSpan.Zero)
        {
            return null;
        }
        using var timer = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timer.CancelAfter(timeout);
        try
        {
            return await _signals.Reader.ReadAsync(timer.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return null;
        }
    }

    public void Dispose() => _hub.Remove(this);
}

/// <summary>One event as streamed: its type and its JSON.</summary>
public sealed record StreamedEvent(string Type, string Json)
{
    /// <summary>Events may have been missed (the subscription's connection was lost, or the client read too slowly).</summary>
    public static readonly StreamedEvent Gap = new("gap", """{"type":"gap"}""");
}

/// <summary>
/// A client's stream of the cluster's events: a bounded buffer that drops the oldest events of a client that reads
/// too slowly (it is told so by a <c>gap</c> event) rather than hold the replica's memory.
/// </summary>
public sealed class EventStream : IDisposable
{
    public const int Capacity = 1024;
    private readonly EventHub _hub;
    private readonly Channel<StreamedEvent> _events;
    private int _dropped;

    internal EventStream(EventHub hub, EventFilter filter)
    {
        _hub = hub;
        Filter = filter;
        _events = Channel.CreateBounded<StreamedEvent>(
            new BoundedChannelOptions(Capacity) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true },
            _ => Interlocked.Increment(ref _dropped));
    }

    public EventFilter Filter { get; }

    public ChannelReader<StreamedEvent> Reader => _events.Reader;

    /// <summary>How many events were dropped since the last call (the client read too slowly).</summary>
    public int TakeDropped() => Interlocked.Exchange(ref _dropped, 0);

    internal void Post(StreamedEvent e) => _events.Writer.TryWrite(e);

    public void Dispose() => _hub.Remove(this);
}

/// <summary>Which events a stream wants: by event type and by work type (<c>kind</c>); null lets all through.</summary>
public sealed record EventFilter(IReadOnlySet<string>? Types, IReadOnlySet<string>? Kinds)
{
    public bool Passes(string type, string? kind) =>
        (Types is null || Types.Contains(type)) && (Kinds is null || (kind is not null && Kinds.Contains(kind)));
}
