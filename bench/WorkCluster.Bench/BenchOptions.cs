using System.Globalization;
using WorkCluster.Redis;

namespace WorkCluster.Bench;

/// <summary>What to run and how hard, from the command line.</summary>
public sealed record BenchOptions
{
    public string Scenario { get; init; } = "all";
    public int Jobs { get; init; } = 50_000;
    public int Producers { get; init; } = 4;
    public int Workers { get; init; } = 1;
    public int Concurrency { get; init; } = 32;
    public int PayloadBytes { get; init; } = 100;
    public string? Redis { get; init; }

    /// <summary>The store the benchmark starts when no --redis is given: redis-server, or garnet (the embedded store); default: redis-server if installed.</summary>
    public string? Store { get; init; }
    public string? Url { get; init; }

    /// <summary>The durability of the store the benchmark starts and of its queues (<c>Redis:Durability</c>).</summary>
    public Durability Durability { get; init; } = Durability.Acknowledged;
    public int Clients { get; init; } = 64;
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How long the HTTP scenarios post at the maximum rate, untimed, before they measure: under full load a 2-core
    /// machine takes seconds to compile the servers' code to its final tier.
    /// </summary>
    public TimeSpan WarmUp { get; init; } = TimeSpan.FromSeconds(15);
    public bool Smoke { get; init; }

    public const string Usage = """
        dotnet run -c Release --project bench/WorkCluster.Bench -- <scenario> [options]

        scenarios:
          baseline   raw Redis with the same client: LPUSH + BRPOP pairs per second
          queue      the queue library with in-process workers (enqueue while working, then a burn-down)
          http-baseline  the HTTP ceiling: a minimal Kestrel server (one LPUSH per POST, 202) at the maximum rate
          http       against a running app: POST no-op work at the maximum rate, then at half of it (after http-baseline)
          all        baseline, queue and http-baseline, and http when --url is given

        options:
          --jobs N            jobs (pairs) per run                      (50000)
          --producers P       concurrent producers                      (4)
          --workers W         in-process worker hosts                   (1)
          --concurrency C     jobs each worker runs at once; baseline consumers (32)
          --payload-bytes B   size of each job's data                   (100)
          --redis CONN        use this Redis (StackExchange.Redis syntax) instead of starting a store
          --store S           the store to start: redis (redis-server) or garnet (WorkCluster.Store)
                              (redis when redis-server is installed, else garnet)
          --durability D      acknowledged (a job is on disk before it counts as accepted) or fast
                              (the store answers before; may lose the last second in a crash)  (acknowledged)
          --url URL           the app for `http` (the gateway, e.g. http://localhost:8080)
          --clients N         concurrent HTTP clients at the maximum rate (64)
          --duration SECONDS  length of each HTTP phase                 (10)
          --warmup SECONDS    untimed load before each HTTP measurement (15)
          --smoke             tiny run (seconds): checks that everything works, measures nothing
        """;

    public static BenchOptions Parse(string[] args)
    {
        var options = new BenchOptions();
        var i = 0;
        if (args.Length > 0 && !args[0].StartsWith("--", StringComparison.Ordinal))
        {
            options = options with { Scenario = args[0] };
            i = 1;
        }
        for (; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.");
            int Number() => int.Parse(Value(), NumberStyles.None, CultureInfo.InvariantCulture);
            options = args[i] switch
            {
                "--jobs" => options with { Jobs = Number() },
                "--producers" => options with { Producers = Number() },
                "--workers" => options with { Workers = Number() },
                "--concurrency" => options with { Concurrency = Number() },
                "--payload-bytes" => options with { PayloadBytes = Number() },
                "--redis" => options with { Redis = Value() },
                "--store" => options with { Store = Value() switch { "redis" => "redis", "garnet" => "garnet", _ => throw new ArgumentException("--store is redis or garnet.") } },
                "--url" => options with { Url = Value() },
                "--durability" => options with { Durability = Value() switch { "acknowledged" => Durability.Acknowledged, "fast" => Durability.Fast,
                    _ => throw new ArgumentException("--durability is acknowledged or fast.") } },
                "--clients" => options with { Clients = Number() },
                "--duration" => options with { Duration = TimeSpan.FromSeconds(Number()) },
                "--warmup" => options with { WarmUp = TimeSpan.FromSeconds(Number()) },
                "--smoke" => options with { Smoke = true },
                _ => throw new ArgumentException($"Unknown option {args[i]}."),
            };
        }
        if (options.Smoke)
        {
            options = options with { Jobs = Math.Min(options.Jobs, 500), Duration = TimeSpan.FromSeconds(2), WarmUp = TimeSpan.FromSeconds(1), Clients = Math.Min(options.Clients, 8) };
        }
        if (options.Scenario is not ("baseline" or "queue" or "http-baseline" or "http" or "all"))
        {
            throw new ArgumentException($"Unknown scenario '{options.Scenario}'.");
        }
        if (options.Scenario == "http" && options.Url is null)
        {
            throw new ArgumentException("The http scenario needs --url (the running app's gateway).");
        }
        return options;
    }

    /// <summary>A job's data: a JSON string of exactly <see cref="PayloadBytes"/> bytes.</summary>
    public string Payload => "\"" + new string('x', Math.Max(0, PayloadBytes - 2)) + "\"";
}
