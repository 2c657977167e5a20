using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using WorkCluster.Api.Apis;
using WorkCluster.Handlers;
using WorkCluster.Queue;

namespace WorkCluster.Tests.Unit;

/// <summary>
/// How the API reads a submission's body, without a server: each mistake is the problem a client can act on (status,
/// title, what to do), and a good body becomes the submission it says. The same rules are checked over HTTP against the
/// real application by BadInputTests; here each one runs in microseconds.
/// </summary>
public sealed class WorkRequestReaderTests
{
    private static readonly WorkTypes Types = TypesIn(Environments.Development);

    /// <summary>The work types as a process in <paramref name="environment"/> with <paramref name="settings"/> has them.</summary>
    private static WorkTypes TypesIn(string environment, Dictionary<string, string?>? settings = null) => new ServiceCollection()
        .AddWorkHandlers(new ConfigurationBuilder().AddInMemoryCollection(settings ?? []).Build(),
            new Microsoft.Extensions.Hosting.Internal.HostingEnvironment { EnvironmentName = environment })
        .BuildServiceProvider()
        .GetRequiredService<WorkTypes>();

    private static readonly QueueOptions Queue = new() { MaxDelay = TimeSpan.FromDays(1) };

    private static async Task<(WorkSubmission? Work, ProblemHttpResult? Problem)> ReadAsync(string body, string? contentType = "application/json",
        int maxBytes = 1024, CallbackPolicy? callbacks = null, WorkTypes? types = null)
    {
        var context = new DefaultHttpContext();
        var bytes = Encoding.UTF8.GetBytes(body);
        context.Request.Body = new MemoryStream(bytes);
        context.Request.ContentLength = bytes.Length;
        context.Request.ContentType = contentType;
        return await WorkRequestReader.ReadAsync(context, types ?? Types, maxBytes, queue: Queue, callbacks: callbacks);
    }

    private static async Task<ProblemHttpResult> ProblemAsync(string body, string? contentType = "application/json", int maxBytes = 1024,
        CallbackPolicy? callbacks = null)
    {
        var (work, problem) = await ReadAsync(body, contentType, maxBytes, callbacks);
        Assert.Null(work);
        return Assert.IsType<ProblemHttpResult>(problem);
    }

    [Fact]
    [Trait("Category", "Unit")]
    public async Task A_good_body_becomes_the_submission_it_says()
    {
        var (work, problem) = await ReadAsync("""{"type":"echo","data":{"a":[1,2]},"priority":8,"delay_ms":1500}""");
        Assert.Null(problem);
        Assert.Equal(("echo", """{"a":[1,2]}""", 8, TimeSpan.FromMilliseconds(1500)), (work!.Type, work.Data, work.Options.Priority, work.Options.Delay));

        var (plain, _) = await ReadAsync("""{"data":"foo"}""", contentType: null); // curl without -H: no content type
        Assert.Equal((Types.DefaultType, "\"foo\"", JobOptions.DefaultPriority), (plain!.Type, plain.Data, plain.Options.Priority));
    }

    [Theory]
    [Trait("Category", "Unit")]
    [InlineData("""{"type":"echo"}""", 400, "Missing 'data'")]
    [InlineData("""{"data":1,"type":5}""", 400, "'type' must be a string")]
    [InlineData("""{"data":1,"type":"nope"}""", 400, "Unknown work type")]
    [InlineData("""[1,2]""", 400, "The body must be a JSON object")]
    [InlineData("""{"data":""", 400, "Malformed JSON")]
    [InlineData("""{"data":"\ud800"}""", 400, "Invalid text in JSON")]
    [InlineData("""{"data":1,"priority":10}""", 400, "Invalid 'priority'")]
    [InlineData("""{"data":1,"priority":"high"}""", 400, "Invalid 'priority'")]
    [InlineData("""{"data":1,"delay_ms":-1}""", 400, "Invalid 'delay_ms'")]
    [InlineData("""{"data":1,"delay_ms":5,"run_at":"2030-01-01T00:00:00Z"}""", 400, "Both 'delay_ms' and 'run_at'")]
    [InlineData("""{"data":1,"run_at":"tomorrow"}""", 400, "Invalid 'run_at'")]
    [InlineData("""{"data":1,"run_at":"2999-01-01T00:00:00Z"}""", 400, "Invalid 'run_at'")]
    [InlineData("""{"data":1,"callback_url":"https://example.com/hook"}""", 400, "Webhooks are not enabled")]
    public async Task Each_mistake_is_the_problem_that_names_it(string body, int status, string title)
    {
        var problem = await ProblemAsync(body);
        Assert.Equal((status, title), (problem.StatusCode, problem.ProblemDetails.Title));
        Assert.False(string.IsNullOrWhiteSpace(problem.ProblemDetails.Detail));
    }

    [Fact]
    [Trait("Category", "Unit")]
    public async Task An_unknown_type_lists_the_known_ones()
    {
        var problem = await ProblemAsync("""{"data":1,"type":"nope"}""");
        Assert.Equal(Types.Names, (IReadOnlyList<string>)problem.ProblemDetails.Extensions["known_types"]!);
        Assert.Contains("'nope'", problem.ProblemDetails.Detail);
    }

    [Fact]
    [Trait("Category", "Unit")]
    public async Task The_body_is_json_within_its_size_and_depth()
    {
        Assert.Equal(415, (await ProblemAsync("""{"data":1}""", contentType: "text/plain")).StatusCode);
        Assert.Equal(413, (await ProblemAsync($$"""{"data":"{{new string('x', 2000)}}"}""", maxBytes: 1024)).StatusCode);
        var deep = "{\"data\":" + new string('[', WorkRequestReader.MaxDepth) + new string(']', WorkRequestReader.MaxDepth) + "}";
        Assert.Equal("JSON nested too deeply", (await ProblemAsync(deep, maxBytes: 4096)).ProblemDetails.Title);
        var deepest = "{\"data\":" + new string('[', WorkRequestReader.MaxDepth - 1) + new string(']', WorkRequestReader.MaxDepth - 1) + "}";
        Assert.Null((await ReadAsync(deepest, maxBytes: 4096)).Problem);
    }

    [Fact]
    [Trait("Category", "Unit")]
    public async Task A_callback_url_is_taken_only_where_webhooks_are_on_and_only_to_a_public_address()
    {
        var on = new CallbackPolicy(Enabled: true, AllowPrivateNetworks: false);
        var (work, problem) = await ReadAsync("""{"data":1,"callback_url":"https://example.com/hook"}""", callbacks: on);
        Assert.Null(problem);
        Assert.Equal("https://example.com/hook", work!.Options.CallbackUrl);
        Assert.Equal("Invalid 'callback_url'", (await ProblemAsync("""{"data":1,"callback_url":"http://127.0.0.1/hook"}""", callbacks: on)).ProblemDetails.Title);
        Assert.Equal("Invalid 'callback_url'", (await ProblemAsync("""{"data":1,"callback_url":"ftp://example.com/"}""", callbacks: on)).ProblemDetails.Title);
    }

    [Fact]
    [Trait("Category", "Unit")]
    public async Task Outside_development_the_demo_types_are_gone_and_a_submission_must_name_its_type()
    {
        var production = TypesIn(Environments.Production);
        Assert.Equal(["echo", "sha256"], production.Names);
        Assert.Null(production.DefaultType);

        var (work, problem) = await ReadAsync("""{"data":"foo"}""", types: production);
        Assert.Null(work);
        Assert.Equal((400, "Missing 'type'"), (problem!.StatusCode, problem.ProblemDetails.Title));
        Assert.Equal(["echo", "sha256"], (IReadOnlyList<string>)problem.ProblemDetails.Extensions["known_types"]!);
        Assert.Equal("Unknown work type", (await ReadAsync("""{"data":1,"type":"sleep"}""", types: production)).Problem!.ProblemDetails.Title);
        Assert.Equal("echo", (await ReadAsync("""{"data":1,"type":"echo"}""", types: production)).Work!.Type);

        // Development has them, with sleep the default; either can be set otherwise.
        Assert.Equal(["echo", "flaky", "noop", "sha256", "sleep"], Types.Names);
        Assert.Equal("sleep", Types.DefaultType);
        var demoInProduction = TypesIn(Environments.Production, new() { ["Work:DemoTypes"] = "true" });
        Assert.Equal(("sleep", 5), (demoInProduction.DefaultType, demoInProduction.Names.Count));
        var echoByDefault = TypesIn(Environments.Production, new() { ["Work:DefaultType"] = "echo" });
        Assert.Equal("echo", (await ReadAsync("""{"data":1}""", types: echoByDefault)).Work!.Type);
        Assert.Equal(["echo", "sha256"], TypesIn(Environments.Development, new() { ["Work:DemoTypes"] = "false" }).Names);
    }
}
