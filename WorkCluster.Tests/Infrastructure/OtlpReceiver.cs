using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace WorkCluster.Tests.Infrastructure;

/// <summary>A span as exported over OTLP.</summary>
public sealed record ReceivedSpan(string Service, string TraceId, string SpanId, string ParentSpanId, string Name, int Kind,
    IReadOnlyDictionary<string, string> Attributes);

/// <summary>One data point of a metric as exported over OTLP by one process: a number (sum, gauge) or a histogram's count.</summary>
/// <summary>
/// One data point of a metric. <paramref name="StartTime"/> (ns since the epoch) is when its cumulative count began: a
/// restarted process (which keeps its instance id) starts a new count.
/// </summary>
public sealed record ReceivedMetric(string Service, string Instance, string Name, double Value, IReadOnlyDictionary<string, string> Attributes,
    ulong StartTime = 0);

/// <summary>
/// An OTLP/gRPC receiver of the tests' own (HTTP/2 without TLS, as the dashboard's): the application exports its
/// traces and metrics here, as it would to the Aspire dashboard, and the tests look at what arrived.
/// </summary>
public sealed class OtlpReceiver : IAsyncDisposable
{
    public const int SpanKindProducer = 4;
    public const int SpanKindConsumer = 5;

    private readonly WebApplication _app;
    private readonly ConcurrentQueue<ReceivedSpan> _spans = new();
    private readonly ConcurrentQueue<ReceivedMetric> _metrics = new();

    private OtlpReceiver(WebApplication app) => _app = app;

    public string Endpoint { get; private set; } = "";

    public IReadOnlyCollection<ReceivedSpan> Spans => _spans;

    public IReadOnlyCollection<ReceivedMetric> Metrics => _metrics;

    public static async Task<OtlpReceiver> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0, listen => listen.Protocols = HttpProtocols.Http2));
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var receiver = new OtlpReceiver(app);
        app.MapPost("/opentelemetry.proto.collector.trace.v1.TraceService/Export", context => ReceiveAsync(context, receiver.ParseTraces));
        app.MapPost("/opentelemetry.proto.collector.metrics.v1.MetricsService/Export", context => ReceiveAsync(context, receiver.ParseMetrics));
        app.MapPost("/opentelemetry.proto.collector.logs.v1.LogsService/Export", context => ReceiveAsync(context, _ => { }));
        await app.StartAsync();
        receiver.Endpoint = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        return receiver;
    }

    /// <summary>One unary gRPC call: a length-prefixed request message in, an empty response message and status 0 out.</summary>
    private static async Task ReceiveAsync(HttpContext context, Action<ReadOnlyMemory<byte>> parse)
    {
        using var body = new MemoryStream();
        await context.Request.Body.CopyToAsync(body);
        var frames = body.ToArray();
        for (var offset = 0; offset + 5 <= frames.Length;)
        {
            var length = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(frames.AsSpan(offset + 1, 4));
            parse(frames.AsMemory(offset + 5, length)); // exporters send uncompressed frames (flag byte 0)
            offset += 5 + length;
        }
        context.Response.ContentType = "application/grpc";
        await context.Response.Body.WriteAsync(new byte[5]);
        context.Response.AppendTrailer("grpc-status", "0");
    }

    // ExportTraceServiceRequest: 1 resource_spans { 1 resource { 1 attributes }, 2 scope_spans { 2 spans } }
    private void ParseTraces(ReadOnlyMemory<byte> request)
    {
        foreach (var resourceSpans in Protobuf.Parse(request).All(1))
        {
            var service = ServiceName(resourceSpans.Message);
            foreach (var scopeSpans in resourceSpans.Message.All(2))
            {
                foreach (var span in scopeSpans.Message.All(2).Select(s => s.Message))
                {
                    _spans.Enqueue(new ReceivedSpan(service,
                        Hex(span.One(1)), Hex(span.One(2)), Hex(span.One(4)), span.One(5)?.String ?? "",
                        (int)(span.One(6)?.Value ?? 0), Attributes(span.All(9))));
                }
            }
        }
    }

    // ExportMetricsServiceRequest: 1 resource_metrics { 1 resource, 2 scope_metrics { 2 metrics { 1 name, 5 gauge, 7 sum, 9 histogram } } }
    private void ParseMetrics(ReadOnlyMemory<byte> request)
    {
        foreach (var resourceMetrics in Protobuf.Parse(request).All(1))
        {
            var (service, instance) = (ServiceName(resourceMetrics.Message), ResourceAttribute(resourceMetrics.Message, "service.instance.id"));
            foreach (var scopeMetrics in resourceMetrics.Message.All(2))
            {
                foreach (var metric in scopeMetrics.Message.All(2).Select(m => m.Message))
                {
                    var name = metric.One(1)?.String ?? "";
                    foreach (var number in (metric.One(5) ?? metric.One(7))?.Message.All(1) ?? [])
                    {
                        // NumberDataPoint: 2 start_time_unix_nano (fixed64), 4 as_double (fixed64), 6 as_int (sfixed64), 7 attributes
                        var point = number.Message;
                        var value = point.One(4) is { } asDouble ? asDouble.Double : (long)(point.One(6)?.Value ?? 0);
                        _metrics.Enqueue(new ReceivedMetric(service, instance, name, value, Attributes(point.All(7)), point.One(2)?.Value ?? 0));
                    }
                    foreach (var histogram in metric.One(9)?.Message.All(1) ?? [])
                    {
                        // HistogramDataPoint: 2 start_time_unix_nano (fixed64), 4 count (fixed64), 9 attributes
                        _metrics.Enqueue(new ReceivedMetric(service, instance, name, histogram.Message.One(4)?.Value ?? 0, Attributes(histogram.Message.All(9)),
                            histogram.Message.One(2)?.Value ?? 0));
                    }
                }
            }
        }
    }

    private static string ServiceName(IReadOnlyList<ProtoField> resourceScoped) => ResourceAttribute(resourceScoped, "service.name");

    private static string ResourceAttribute(IReadOnlyList<ProtoField> resourceScoped, string key) =>
        resourceScoped.One(1) is { } resource && Attributes(resource.Message.All(1)).TryGetValue(key, out var value) ? value : "";

    // KeyValue: 1 key, 2 AnyValue { 1 string, 2 bool, 3 int, 4 double }
    private static Dictionary<string, string> Attributes(IEnumerable<ProtoField> keyValues) =>
        keyValues.Select(kv => kv.Message).ToDictionary(
            kv => kv.One(1)?.String ?? "",
            kv => kv.One(2)?.Message is { } any
                ? any.One(1)?.String ?? any.One(3)?.Value.ToString() ?? any.One(2)?.Value.ToString() ?? any.One(4)?.Double.ToString() ?? ""
                : "");

    private static string Hex(ProtoField? field) => field is { } f ? Convert.ToHexStringLower(f.Bytes.Span) : "";

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}
